import MiniSupport

/// A value of a Parquet column: the bytes of a `BYTE_ARRAY` (text when the column is `UTF8`
/// or `STRING`) or an integer (`INT32`, `INT64`).
public enum ParquetValue: Sendable, Equatable {
  /// A `BYTE_ARRAY` value.
  case bytes([UInt8])
  /// An `INT32` or `INT64` value.
  case integer(Int64)

  /// The value as text, when it is valid UTF-8 bytes.
  public var string: String? {
    if case .bytes(let bytes) = self { return String(validating: bytes, as: UTF8.self) }
    return nil
  }
}

/// A column of a flat Parquet file.
public struct ParquetColumn: Sendable, Equatable {
  /// The column's name.
  public var name: String
  /// The physical type (`BOOLEAN`, `INT32`, `INT64`, `INT96`, `FLOAT`, `DOUBLE`, `BYTE_ARRAY`,
  /// `FIXED_LEN_BYTE_ARRAY`).
  public var physicalType: String
  /// Whether values may be null.
  public var isOptional: Bool
  /// Whether ``ParquetFile/column(_:rowGroup:)`` can read it (byte arrays and integers).
  public var isReadable: Bool
  /// Whether it holds text (`BYTE_ARRAY` annotated `UTF8`/`STRING`).
  public var isText: Bool
}

/// A Parquet read error, naming the file and, where known, the column, row group and page.
public struct ParquetError: Error, CustomStringConvertible, Equatable {
  /// The file.
  public var path: String
  /// What is wrong and where.
  public var message: String

  /// An error for `path`.
  public init(path: String, message: String) {
    self.path = path
    self.message = message
  }

  public var description: String { "\(path): \(message)" }
}

/// A flat Parquet file (every column a top-level leaf), read natively: the footer through the
/// Thrift compact protocol, then column chunks page by page — data pages v1 and v2, PLAIN and
/// dictionary (`PLAIN_DICTIONARY`, `RLE_DICTIONARY`) encodings, UNCOMPRESSED, SNAPPY, GZIP and
/// ZSTD pages — for `BYTE_ARRAY` and integer columns, nulls included.
///
/// Everything is bounds-checked: a truncated or corrupt file, nested columns, encryption and other
/// codecs or encodings are a ``ParquetError`` naming the file (and column, row group, page).
public final class ParquetFile: @unchecked Sendable {
  // @unchecked: `mapped` is read-only after init.
  /// The file.
  public let path: String
  /// The columns, in schema order.
  public let columns: [ParquetColumn]
  /// Rows in the file.
  public let rowCount: Int
  /// Rows in each row group.
  public let rowGroupRowCounts: [Int]
  private let metadata: ParquetMetadata
  private let mapped: MappedFile

  /// Opens `path` and reads its footer.
  /// - Throws: `ParquetError` for a file that is not Parquet, truncated, encrypted, nested, or
  ///   whose footer is malformed.
  public init(path: String) throws {
    self.path = path
    do {
      mapped = try MappedFile(path: path)
    } catch {
      throw ParquetError(path: path, message: "cannot be read: \(error)")
    }
    let metadata = try mapped.withUnsafeBytes { file throws(ParquetError) in
      try Self.footer(file, path: path)
    }
    self.metadata = metadata
    guard let root = metadata.schema.first else {
      throw ParquetError(path: path, message: "the schema is empty")
    }
    guard Int(root.childCount) == metadata.schema.count - 1 else {
      throw ParquetError(
        path: path,
        message: "nested columns are not supported (the schema has groups inside the root)")
    }
    var columns: [ParquetColumn] = []
    for element in metadata.schema.dropFirst() {
      guard element.childCount == 0, let type = element.type else {
        throw ParquetError(
          path: path, message: "column '\(element.name)': nested columns are not supported")
      }
      guard element.repetition != 2 else {
        throw ParquetError(
          path: path, message: "column '\(element.name)': repeated columns are not supported")
      }
      let names = [
        "BOOLEAN", "INT32", "INT64", "INT96", "FLOAT", "DOUBLE", "BYTE_ARRAY",
        "FIXED_LEN_BYTE_ARRAY",
      ]
      let typeName = names.indices.contains(Int(type)) ? names[Int(type)] : "type \(type)"
      columns.append(
        ParquetColumn(
          name: element.name, physicalType: typeName, isOptional: element.repetition == 1,
          isReadable: type == 1 || type == 2 || type == 6,
          isText: type == 6 && (element.convertedType == 0 || element.logicalType == 1)))
    }
    for (index, group) in metadata.rowGroups.enumerated() {
      guard group.columns.count == columns.count else {
        throw ParquetError(
          path: path,
          message:
            "row group \(index) has \(group.columns.count) column chunks for \(columns.count) columns"
        )
      }
      guard group.rowCount >= 0 else {
        throw ParquetError(path: path, message: "row group \(index): negative row count")
      }
    }
    self.columns = columns
    rowGroupRowCounts = metadata.rowGroups.map { Int($0.rowCount) }
    var total = 0
    for count in rowGroupRowCounts {
      let (sum, overflow) = total.addingReportingOverflow(count)
      guard !overflow else {
        throw ParquetError(path: path, message: "the row groups' row counts overflow")
      }
      total = sum
    }
    rowCount = total
  }

  /// The values of column `name` in row group `rowGroup`, `nil` for nulls.
  /// - Throws: `ParquetError` naming the column, row group and page for an unknown column, an
  ///   unsupported type, codec or encoding, and truncated or corrupt data.
  public func column(_ name: String, rowGroup: Int) throws -> [ParquetValue?] {
    guard let index = columns.firstIndex(where: { $0.name == name }) else {
      throw ParquetError(path: path, message: "no column '\(name)'")
    }
    guard metadata.rowGroups.indices.contains(rowGroup) else {
      throw ParquetError(path: path, message: "no row group \(rowGroup)")
    }
    let chunk = metadata.rowGroups[rowGroup].columns[index]
    let place = "column '\(name)', row group \(rowGroup)"
    guard columns[index].isReadable else {
      throw ParquetError(
        path: path, message: "\(place): type \(columns[index].physicalType) is not supported")
    }
    guard !chunk.encrypted else {
      throw ParquetError(path: path, message: "\(place): encrypted columns are not supported")
    }
    if let external = chunk.externalFile, !external.isEmpty {
      throw ParquetError(
        path: path, message: "\(place): data in another file (\(external)) is not supported")
    }
    var decoder = ParquetChunkDecoder(
      path: path, place: place, physicalType: Int(chunk.type),
      isOptional: columns[index].isOptional, codec: chunk.codec,
      expectedValues: Int(clamping: chunk.valueCount),
      expectedRows: rowGroupRowCounts[rowGroup])
    return try mapped.withUnsafeBytes { file in
      let start =
        chunk.dictionaryPageOffset.map { min($0, chunk.dataPageOffset) }
        ?? chunk.dataPageOffset
      let validStart = start > 0 ? start : chunk.dataPageOffset
      guard validStart >= 4, chunk.compressedSize >= 0,
        validStart <= Int64(file.count), chunk.compressedSize <= Int64(file.count) - validStart
      else {
        throw ParquetError(
          path: path,
          message:
            "\(place): the chunk (offset \(validStart), \(chunk.compressedSize) bytes) lies outside the file"
        )
      }
      let bytes = UnsafeRawBufferPointer(
        rebasing: file[Int(validStart)..<Int(validStart + chunk.compressedSize)])
      return try decoder.decode(bytes, fileOffset: Int(validStart))
    }
  }

  private static func footer(_ file: UnsafeRawBufferPointer, path: String) throws(ParquetError)
    -> ParquetMetadata
  {
    func magic(at offset: Int) -> [UInt8] { Array(file[offset..<offset + 4]) }
    guard file.count >= 12 else {
      throw ParquetError(path: path, message: "\(file.count) bytes: too short for Parquet")
    }
    if magic(at: file.count - 4) == Array("PARE".utf8) {
      throw ParquetError(path: path, message: "encrypted Parquet files are not supported")
    }
    guard magic(at: 0) == Array("PAR1".utf8), magic(at: file.count - 4) == Array("PAR1".utf8)
    else {
      throw ParquetError(
        path: path, message: "not a Parquet file (no PAR1 magic at its start and end)")
    }
    let length = Int(
      file.loadUnaligned(fromByteOffset: file.count - 8, as: UInt32.self).littleEndian)
    guard length <= file.count - 12 else {
      throw ParquetError(
        path: path, message: "the footer length \(length) exceeds the file: truncated?")
    }
    let start = file.count - 8 - length
    var reader = ThriftCompactReader(
      UnsafeRawBufferPointer(rebasing: file[start..<file.count - 8]), base: start)
    do {
      let metadata = try ParquetMetadata(&reader)
      if metadata.encrypted {
        throw ParquetError(path: path, message: "encrypted Parquet files are not supported")
      }
      return metadata
    } catch let failure as ThriftCompactReader.Failure {
      throw ParquetError(
        path: path, message: "malformed footer at byte \(failure.offset): \(failure.message)")
    } catch let error as ParquetError {
      throw error
    } catch {
      throw ParquetError(path: path, message: "\(error)")
    }
  }
}
