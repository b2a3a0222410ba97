/// Decodes one column chunk of a flat column, page by page: an optional dictionary page, then
/// data pages (v1 or v2) whose values are PLAIN or dictionary indices, with definition levels
/// for optional columns.
struct ParquetChunkDecoder {
  let path: String
  /// "column 'x', row group n", for errors.
  let place: String
  /// 1 INT32, 2 INT64, 6 BYTE_ARRAY.
  let physicalType: Int
  let isOptional: Bool
  let codec: Int32
  let expectedValues: Int
  let expectedRows: Int

  private var dictionary: [ParquetValue]?
  private var values: [ParquetValue?] = []
  private var page = 0

  init(
    path: String, place: String, physicalType: Int, isOptional: Bool, codec: Int32,
    expectedValues: Int, expectedRows: Int
  ) {
    self.path = path
    self.place = place
    self.physicalType = physicalType
    self.isOptional = isOptional
    self.codec = codec
    self.expectedValues = expectedValues
    self.expectedRows = expectedRows
  }

  private func error(_ message: String) -> ParquetError {
    ParquetError(path: path, message: "\(place), page \(page): \(message)")
  }

  /// The chunk's values, one per row.
  mutating func decode(_ chunk: UnsafeRawBufferPointer, fileOffset: Int) throws
    -> [ParquetValue?]
  {
    guard expectedRows >= 0, expectedValues == expectedRows else {
      throw error("\(expectedValues) values for \(expectedRows) rows in a flat column")
    }
    values.reserveCapacity(min(expectedRows, chunk.count + 1))
    var position = 0
    while values.count < expectedValues {
      guard position < chunk.count else {
        throw error("the chunk ends after \(values.count) of \(expectedValues) values")
      }
      var reader = ThriftCompactReader(
        UnsafeRawBufferPointer(rebasing: chunk[position...]), base: fileOffset + position)
      let header: ParquetPageHeader
      do {
        header = try ParquetPageHeader(&reader)
      } catch {
        throw self.error("malformed page header at byte \(error.offset): \(error.message)")
      }
      position += reader.position
      guard header.compressedSize >= 0, header.uncompressedSize >= 0,
        Int(header.compressedSize) <= chunk.count - position
      else {
        throw error(
          "a page of \(header.compressedSize) bytes runs past the chunk's end (truncated or corrupt)"
        )
      }
      let body = UnsafeRawBufferPointer(
        rebasing: chunk[position..<position + Int(header.compressedSize)])
      position += Int(header.compressedSize)
      if header.type == 0 || header.type == 3 {
        guard header.valueCount >= 0, Int(header.valueCount) <= expectedValues - values.count else {
          throw error("\(header.valueCount) values exceed the chunk's \(expectedValues)")
        }
      }
      switch header.type {
      case 2: try readDictionary(header, body)
      case 0: try readDataPageV1(header, body)
      case 3: try readDataPageV2(header, body)
      case 1: break  // index pages carry no values
      default: throw error("unknown page type \(header.type)")
      }
      page += 1
    }
    return values
  }

  private func decompressed(_ body: UnsafeRawBufferPointer, size: Int) throws
    -> [UInt8]
  {
    do {
      return try ParquetCodec.decompress(body, codec: codec, uncompressedSize: size)
    } catch {
      throw self.error(error.message)
    }
  }

  private mutating func readDictionary(_ header: ParquetPageHeader, _ body: UnsafeRawBufferPointer)
    throws
  {
    guard dictionary == nil else { throw error("a second dictionary page") }
    guard header.encoding == 0 || header.encoding == 2 else {
      throw error("dictionary encoding \(header.encoding) is not supported (PLAIN only)")
    }
    let bytes = try decompressed(body, size: Int(header.uncompressedSize))
    let count = Int(header.valueCount)
    guard count >= 0 else { throw error("negative dictionary size") }
    dictionary = try bytes.withUnsafeBytes { raw throws in
      var cursor = 0
      return try plainValues(raw, count: count, cursor: &cursor)
    }
  }

  private mutating func readDataPageV1(_ header: ParquetPageHeader, _ body: UnsafeRawBufferPointer)
    throws
  {
    let bytes = try decompressed(body, size: Int(header.uncompressedSize))
    try bytes.withUnsafeBytes { raw throws in
      var cursor = 0
      var defined: [Bool]?
      if isOptional {
        guard header.definitionLevelEncoding == 3 else {
          throw error("definition levels encoded as \(header.definitionLevelEncoding), not RLE")
        }
        guard raw.count >= 4 else { throw error("truncated definition levels") }
        let length = Int(raw.loadUnaligned(as: UInt32.self).littleEndian)
        guard length <= raw.count - 4 else {
          throw error("definition levels of \(length) bytes run past the page")
        }
        defined = try levels(
          UnsafeRawBufferPointer(rebasing: raw[4..<4 + length]), count: Int(header.valueCount))
        cursor = 4 + length
      }
      try appendValues(
        UnsafeRawBufferPointer(rebasing: raw[cursor...]), header: header, defined: defined)
    }
  }

  private mutating func readDataPageV2(_ header: ParquetPageHeader, _ body: UnsafeRawBufferPointer)
    throws
  {
    let repetitionLength = Int(header.repetitionLevelsLength)
    let definitionLength = Int(header.definitionLevelsLength)
    guard repetitionLength >= 0, definitionLength >= 0,
      repetitionLength <= body.count - definitionLength
    else { throw error("level lengths \(repetitionLength) + \(definitionLength) exceed the page") }
    let levelsEnd = repetitionLength + definitionLength
    var defined: [Bool]?
    if isOptional {
      defined = try levels(
        UnsafeRawBufferPointer(rebasing: body[repetitionLength..<levelsEnd]),
        count: Int(header.valueCount))
    }
    let rest = UnsafeRawBufferPointer(rebasing: body[levelsEnd...])
    let size = Int(header.uncompressedSize) - levelsEnd
    guard size >= 0 else { throw error("uncompressed size smaller than the levels") }
    let bytes =
      header.valuesCompressed ? try decompressed(rest, size: size) : Array(rest)
    try bytes.withUnsafeBytes { raw throws in
      try appendValues(raw, header: header, defined: defined)
    }
  }

  /// Definition levels (bit width 1 for a flat optional column): whether each value is present.
  private func levels(_ bytes: UnsafeRawBufferPointer, count: Int) throws -> [Bool] {
    guard count >= 0 else { throw error("negative value count") }
    var decoder = RLEBitPackedDecoder(bytes: bytes, bitWidth: 1)
    var result: [Bool] = []
    result.reserveCapacity(min(count, bytes.count * 8 + 8))
    while result.count < count {
      guard let value = decoder.next() else {
        throw error("definition levels end after \(result.count) of \(count) values")
      }
      result.append(value != 0)
    }
    return result
  }

  private mutating func appendValues(
    _ raw: UnsafeRawBufferPointer, header: ParquetPageHeader, defined: [Bool]?
  ) throws {
    let count = Int(header.valueCount)
    guard count >= 0, count <= expectedValues - values.count else {
      throw error("\(count) values exceed the chunk's \(expectedValues)")
    }
    let present = defined.map { $0.reduce(0) { $0 + ($1 ? 1 : 0) } } ?? count
    let decoded: [ParquetValue]
    switch header.encoding {
    case 0:
      var cursor = 0
      decoded = try plainValues(raw, count: present, cursor: &cursor)
    case 2, 8:
      guard let dictionary else {
        throw error("dictionary-encoded values without a dictionary page")
      }
      guard raw.count >= 1 else { throw error("truncated dictionary indices") }
      let bitWidth = Int(raw[0])
      guard bitWidth <= 32 else { throw error("dictionary index bit width \(bitWidth)") }
      var decoder = RLEBitPackedDecoder(
        bytes: UnsafeRawBufferPointer(rebasing: raw[1...]), bitWidth: bitWidth)
      var result: [ParquetValue] = []
      result.reserveCapacity(present)
      while result.count < present {
        guard let index = decoder.next() else {
          throw error("dictionary indices end after \(result.count) of \(present) values")
        }
        guard index < UInt64(dictionary.count) else {
          throw error("dictionary index \(index) out of \(dictionary.count) entries")
        }
        result.append(dictionary[Int(index)])
      }
      decoded = result
    default:
      throw error("encoding \(Self.encodingName(header.encoding)) is not supported")
    }
    if let defined {
      var next = 0
      for isPresent in defined {
        if isPresent {
          values.append(decoded[next])
          next += 1
        } else {
          values.append(nil)
        }
      }
    } else {
      values.append(contentsOf: decoded.map { Optional($0) })
    }
  }

  private func plainValues(_ raw: UnsafeRawBufferPointer, count: Int, cursor: inout Int)
    throws -> [ParquetValue]
  {
    var result: [ParquetValue] = []
    result.reserveCapacity(min(count, raw.count))
    for _ in 0..<count {
      switch physicalType {
      case 1:
        guard raw.count - cursor >= 4 else { throw error("truncated INT32 values") }
        result.append(
          .integer(
            Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: cursor, as: Int32.self)))))
        cursor += 4
      case 2:
        guard raw.count - cursor >= 8 else { throw error("truncated INT64 values") }
        result.append(
          .integer(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: cursor, as: Int64.self))))
        cursor += 8
      case 6:
        guard raw.count - cursor >= 4 else { throw error("truncated BYTE_ARRAY length") }
        let length = Int(
          UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: cursor, as: UInt32.self)))
        cursor += 4
        guard length <= raw.count - cursor else {
          throw error("a BYTE_ARRAY of \(length) bytes runs past the page")
        }
        result.append(.bytes(Array(raw[cursor..<cursor + length])))
        cursor += length
      default:
        throw error("physical type \(physicalType) is not supported")
      }
    }
    return result
  }

  static func encodingName(_ encoding: Int32) -> String {
    let names = [
      0: "PLAIN", 2: "PLAIN_DICTIONARY", 3: "RLE", 4: "BIT_PACKED", 5: "DELTA_BINARY_PACKED",
      6: "DELTA_LENGTH_BYTE_ARRAY", 7: "DELTA_BYTE_ARRAY", 8: "RLE_DICTIONARY",
      9: "BYTE_STREAM_SPLIT",
    ]
    return names[Int(encoding)] ?? "\(encoding)"
  }
}

/// Parquet's RLE / bit-packed hybrid: runs of one repeated value, and groups of 8 values packed
/// `bitWidth` bits each, least significant bit first.
struct RLEBitPackedDecoder {
  let bytes: UnsafeRawBufferPointer
  let bitWidth: Int
  private var position = 0
  private var repeatCount = 0
  private var repeatValue: UInt64 = 0
  private var packedLeft = 0
  private var bitOffset = 0

  init(bytes: UnsafeRawBufferPointer, bitWidth: Int) {
    self.bytes = bytes
    self.bitWidth = bitWidth
  }

  /// The next value, or `nil` when the data ends or is malformed.
  mutating func next() -> UInt64? {
    while true {
      if repeatCount > 0 {
        repeatCount -= 1
        return repeatValue
      }
      if packedLeft > 0 {
        packedLeft -= 1
        var value: UInt64 = 0
        for bit in 0..<bitWidth {
          let index = bitOffset + bit
          guard index / 8 < bytes.count - position else { return nil }
          if bytes[position + index / 8] >> (index % 8) & 1 == 1 { value |= 1 << UInt64(bit) }
        }
        bitOffset += bitWidth
        if packedLeft == 0 {
          position += (bitOffset + 7) / 8
          bitOffset = 0
        }
        return value
      }
      guard let header = varint() else { return nil }
      if header & 1 == 1 {
        let groups = header >> 1
        guard groups > 0, groups <= UInt64(Int32.max) / 8 else { return nil }
        packedLeft = Int(groups) * 8
        // The groups' bytes must be there (the last group may be padding beyond the values).
        guard Int(groups) * bitWidth <= bytes.count - position else { return nil }
      } else {
        let count = header >> 1
        guard count > 0, count <= UInt64(Int32.max) else { return nil }
        let width = (bitWidth + 7) / 8
        guard width <= bytes.count - position else { return nil }
        var value: UInt64 = 0
        for index in 0..<width { value |= UInt64(bytes[position + index]) << UInt64(8 * index) }
        position += width
        repeatCount = Int(count)
        repeatValue = value
      }
    }
  }

  private mutating func varint() -> UInt64? {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while position < bytes.count, shift < 64 {
      let byte = bytes[position]
      position += 1
      value |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return value }
      shift += 7
    }
    return nil
  }
}
