import MiniSupport
import MiniTensor

/// A GGUF file that cannot be read: names the file and the field at fault.
public struct GGUFError: Error, CustomStringConvertible, Sendable {
  /// The file.
  public let path: String
  /// The field: `magic`, `version`, `tensor_count`, a metadata key, `tensor 'name'.offset`, …
  public let field: String
  /// What is wrong.
  public let message: String

  init(path: String, field: String, _ message: String) {
    self.path = path
    self.field = field
    self.message = message
  }

  public var description: String { "\(path): GGUF field '\(field)': \(message)" }
}

/// Where one tensor's data is in a GGUF file.
public struct GGUFTensorInfo: Sendable, Equatable {
  /// The tensor's name.
  public var name: String
  /// ggml's dimensions `ne`, fastest first.
  public var dimensions: [Int]
  /// How the values are stored.
  public var type: GGMLType
  /// Offset of the data relative to the data section.
  public var offset: Int

  /// The PyTorch shape (the dimensions reversed).
  public var shape: [Int] { dimensions.reversed() }
  /// Number of values.
  public var count: Int { dimensions.reduce(1, *) }
  /// Bytes of the data.
  public var byteCount: Int { count / dimensions[0] * type.rowByteCount(dimensions[0]) }
}

/// Reads and validates a GGUF file's header, metadata and tensor infos, and gives each tensor's
/// bytes. Only the tensor types of `GGMLType` are accepted.
///
/// Every length, count, type code and offset is checked against the file before it is used;
/// a bad file gives a `GGUFError` naming the field.
public struct GGUFReader: Sendable {
  /// The file.
  public let path: String
  /// The format version (2 or 3).
  public let version: UInt32
  /// The metadata in file order.
  public let metadata: [(key: String, value: GGUFValue)]
  /// The tensor infos in file order.
  public let tensors: [GGUFTensorInfo]
  /// The alignment (`general.alignment`, default 32).
  public let alignment: Int
  /// Offset of the data section.
  public let dataOffset: Int
  /// Size of the file.
  public let fileSize: Int
  private let file: MappedFile

  /// Opens and validates `path`.
  /// - Throws: `GGUFError` naming the field at fault (`io` when the file cannot be opened).
  public init(path: String) throws {
    self.path = path
    do {
      file = try MappedFile(path: path)
    } catch {
      throw GGUFError(path: path, field: "io", "\(error)")
    }
    fileSize = file.count
    let parsed = try file.withUnsafeBytes { bytes in try Self.parse(bytes, path: path) }
    version = parsed.version
    metadata = parsed.metadata
    tensors = parsed.tensors
    alignment = parsed.alignment
    dataOffset = parsed.dataOffset
  }

  /// The value of `key`, if present.
  public func value(_ key: String) -> GGUFValue? {
    metadata.first { $0.key == key }?.value
  }

  /// The info of the tensor named `name`, if present.
  public func tensor(named name: String) -> GGUFTensorInfo? {
    tensors.first { $0.name == name }
  }

  /// The raw bytes of a tensor's data.
  public func bytes(of tensor: GGUFTensorInfo) -> [UInt8] {
    file.withUnsafeBytes { bytes in
      let start = dataOffset + tensor.offset
      return Array(bytes[start..<start + tensor.byteCount])
    }
  }

  /// A tensor's values as `Float` (f16 converted, q8_0 dequantized), in row-major order.
  public func values(of tensor: GGUFTensorInfo) -> [Float] {
    file.withUnsafeBytes { bytes in
      let start = dataOffset + tensor.offset
      return tensor.type.decode(
        UnsafeRawBufferPointer(rebasing: bytes[start..<start + tensor.byteCount]),
        count: tensor.count)
    }
  }

  private struct Parsed {
    var version: UInt32
    var metadata: [(key: String, value: GGUFValue)]
    var tensors: [GGUFTensorInfo]
    var alignment: Int
    var dataOffset: Int
  }

  private static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Parsed {
    var cursor = GGUFCursor(bytes: bytes, path: path)
    guard bytes.count >= 4, try cursor.read(UInt32.self, field: "magic") == GGUFWriter.magic else {
      throw GGUFError(path: path, field: "magic", "not a GGUF file (expected the bytes 'GGUF')")
    }
    let version = try cursor.read(UInt32.self, field: "version")
    guard version == 2 || version == 3 else {
      throw GGUFError(path: path, field: "version", "unsupported version \(version) (need 2 or 3)")
    }
    let tensorCount = try cursor.count(field: "tensor_count", minimumBytesEach: 8 + 4 + 8 + 4 + 8)
    let kvCount = try cursor.count(field: "metadata_kv_count", minimumBytesEach: 8 + 4 + 1)

    var metadata: [(key: String, value: GGUFValue)] = []
    var keys = Set<String>()
    for index in 0..<kvCount {
      let key = try cursor.string(field: "metadata key #\(index)")
      guard !key.isEmpty else {
        throw GGUFError(path: path, field: "metadata key #\(index)", "empty key")
      }
      guard keys.insert(key).inserted else {
        throw GGUFError(path: path, field: key, "duplicate metadata key")
      }
      let type = try cursor.valueType(field: key)
      metadata.append((key, try cursor.value(of: type, field: key, depth: 0)))
    }

    var alignment = GGUFWriter.defaultAlignment
    if let value = metadata.first(where: { $0.key == "general.alignment" })?.value {
      guard case .uint32(let a) = value, a > 0, a & (a - 1) == 0 else {
        throw GGUFError(
          path: path, field: "general.alignment", "must be a power-of-two uint32, got \(value)")
      }
      alignment = Int(a)
    }

    var tensors: [GGUFTensorInfo] = []
    var names = Set<String>()
    for index in 0..<tensorCount {
      let name = try cursor.string(field: "tensor #\(index).name")
      let field = "tensor '\(name)'"
      guard !name.isEmpty, name.utf8.count < 64 else {
        throw GGUFError(path: path, field: field + ".name", "must have 1 to 63 bytes")
      }
      guard names.insert(name).inserted else {
        throw GGUFError(path: path, field: field, "duplicate tensor name")
      }
      let dimensionCount = try cursor.read(UInt32.self, field: field + ".n_dims")
      guard (1...4).contains(dimensionCount) else {
        throw GGUFError(
          path: path, field: field + ".n_dims", "must be 1 to 4, got \(dimensionCount)")
      }
      var dimensions: [Int] = []
      var count = 1
      for d in 0..<Int(dimensionCount) {
        let raw = try cursor.read(UInt64.self, field: field + ".ne[\(d)]")
        guard raw >= 1, raw <= UInt64(bytes.count), let value = Int(exactly: raw) else {
          throw GGUFError(
            path: path, field: field + ".ne[\(d)]", "\(raw) is not a plausible dimension")
        }
        let (product, overflow) = count.multipliedReportingOverflow(by: value)
        guard !overflow, product <= bytes.count * 32 else {
          throw GGUFError(path: path, field: field + ".ne", "element count exceeds the file")
        }
        count = product
        dimensions.append(value)
      }
      let rawType = try cursor.read(UInt32.self, field: field + ".type")
      guard let type = GGMLType(rawValue: rawType) else {
        throw GGUFError(
          path: path, field: field + ".type",
          "type \(rawType) is not one of "
            + GGMLType.allCases.map(\.name).joined(separator: ", "))
      }
      guard dimensions[0] % type.blockSize == 0 else {
        throw GGUFError(
          path: path, field: field + ".ne[0]",
          "\(dimensions[0]) is not a multiple of the \(type.name) block size \(type.blockSize)")
      }
      let rawOffset = try cursor.read(UInt64.self, field: field + ".offset")
      guard let offset = Int(exactly: rawOffset), offset % alignment == 0 else {
        throw GGUFError(
          path: path, field: field + ".offset", "\(rawOffset) is not a multiple of \(alignment)")
      }
      tensors.append(
        GGUFTensorInfo(name: name, dimensions: dimensions, type: type, offset: offset))
    }

    let dataOffset = (cursor.position + alignment - 1) / alignment * alignment
    guard dataOffset <= bytes.count else {
      throw GGUFError(path: path, field: "data", "the data section starts past the end of the file")
    }
    let dataSize = bytes.count - dataOffset
    // Padding is zeros, as every writer makes it; data where padding should be means a tensor
    // was described as smaller than it is.
    func isZero(_ start: Int, _ end: Int) -> Bool {
      bytes[(dataOffset + start)..<(dataOffset + end)].allSatisfy { $0 == 0 }
    }
    // The data section is the tensors' data, each at the next aligned offset, and nothing
    // else: a lowered tensor count or a shrunken dimension leaves bytes no tensor describes.
    var end = 0
    for info in tensors.sorted(by: { $0.offset < $1.offset }) {
      let field = "tensor '\(info.name)'.offset"
      guard info.offset >= end else {
        throw GGUFError(path: path, field: field, "overlaps the previous tensor's data")
      }
      let aligned = (end + alignment - 1) / alignment * alignment
      guard info.offset == aligned, aligned <= dataSize, isZero(end, aligned) else {
        throw GGUFError(
          path: path, field: field,
          "the \(info.offset - end) bytes before it belong to no tensor (expected offset \(aligned) "
            + "after zero padding; "
            + "a dimension or the tensor count may have been altered)")
      }
      guard info.offset <= dataSize, info.byteCount <= dataSize - info.offset else {
        throw GGUFError(
          path: path, field: field,
          "\(info.byteCount) bytes at \(info.offset) run past the end of the file "
            + "(data section of \(dataSize) bytes)")
      }
      end = info.offset + info.byteCount
    }
    guard dataSize - end < alignment, isZero(end, dataSize) else {
      throw GGUFError(
        path: path, field: "tensor_count",
        "the \(dataSize - end) bytes after the last tensor's data are not zero padding "
          + "(\(tensors.count) tensors described; the count or a dimension may have been altered)")
    }
    return Parsed(
      version: version, metadata: metadata, tensors: tensors, alignment: alignment,
      dataOffset: dataOffset)
  }
}

/// Reads little-endian GGUF fields, checking each against the end of the file.
private struct GGUFCursor {
  let bytes: UnsafeRawBufferPointer
  let path: String
  var position = 0

  init(bytes: UnsafeRawBufferPointer, path: String) {
    self.bytes = bytes
    self.path = path
  }

  var remaining: Int { bytes.count - position }

  mutating func read<T: FixedWidthInteger>(_: T.Type, field: String) throws -> T {
    let size = MemoryLayout<T>.size
    guard remaining >= size else {
      throw GGUFError(path: path, field: field, "file ends inside this field")
    }
    defer { position += size }
    return T(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: T.self))
  }

  /// A count whose items need at least `minimumBytesEach` bytes each.
  mutating func count(field: String, minimumBytesEach: Int) throws -> Int {
    let raw = try read(UInt64.self, field: field)
    guard raw <= UInt64(remaining / minimumBytesEach) else {
      throw GGUFError(
        path: path, field: field, "\(raw) entries cannot fit in the \(remaining) bytes left")
    }
    return Int(raw)
  }

  mutating func string(field: String) throws -> String {
    let length = try read(UInt64.self, field: field)
    guard length <= UInt64(remaining) else {
      throw GGUFError(
        path: path, field: field, "string length \(length) runs past the end of the file")
    }
    let start = position
    position += Int(length)
    guard
      let text = String(
        validating: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    else {
      throw GGUFError(path: path, field: field, "string is not valid UTF-8")
    }
    return text
  }

  mutating func valueType(field: String) throws -> GGUFValueType {
    let raw = try read(UInt32.self, field: field)
    guard let type = GGUFValueType(rawValue: raw) else {
      throw GGUFError(path: path, field: field, "unknown value type \(raw)")
    }
    return type
  }

  mutating func value(of type: GGUFValueType, field: String, depth: Int) throws -> GGUFValue {
    switch type {
    case .uint8: return .uint8(try read(UInt8.self, field: field))
    case .int8: return .int8(try read(Int8.self, field: field))
    case .uint16: return .uint16(try read(UInt16.self, field: field))
    case .int16: return .int16(try read(Int16.self, field: field))
    case .uint32: return .uint32(try read(UInt32.self, field: field))
    case .int32: return .int32(try read(Int32.self, field: field))
    case .float32: return .float32(Float(bitPattern: try read(UInt32.self, field: field)))
    case .uint64: return .uint64(try read(UInt64.self, field: field))
    case .int64: return .int64(try read(Int64.self, field: field))
    case .float64: return .float64(Double(bitPattern: try read(UInt64.self, field: field)))
    case .bool:
      let raw = try read(UInt8.self, field: field)
      guard raw <= 1 else {
        throw GGUFError(path: path, field: field, "bool byte \(raw) is not 0 or 1")
      }
      return .bool(raw == 1)
    case .string: return .string(try string(field: field))
    case .array:
      guard depth < 4 else { throw GGUFError(path: path, field: field, "arrays nested too deeply") }
      let elementType = try valueType(field: field)
      let count = try self.count(field: field, minimumBytesEach: elementType.fixedSize ?? 8)
      var elements: [GGUFValue] = []
      elements.reserveCapacity(count)
      for _ in 0..<count {
        elements.append(try value(of: elementType, field: field, depth: depth + 1))
      }
      return .array(elementType: elementType, elements)
    }
  }
}
