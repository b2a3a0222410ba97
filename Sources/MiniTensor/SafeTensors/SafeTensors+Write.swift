import MiniSupport

/// One named tensor to write to a safetensors file.
public struct SafeTensorsEntry: Sendable {
  /// The tensor's name in the header.
  public let name: String
  /// Element type in the file.
  public let dtype: SafeTensorsDType
  /// Shape (`[]` for a scalar).
  public let shape: [Int]
  let values: Values

  enum Values: Sendable {
    case tensor(Tensor)
    case int64([Int64])
    case int32([Int32])
    case uint8([UInt8])
  }

  /// `tensor` stored as `dtype`: floats round to nearest even; integer dtypes require every value
  /// to be an integer in range (checked when written).
  public init(_ name: String, _ tensor: Tensor, as dtype: SafeTensorsDType = .f32) {
    self.name = name
    self.dtype = dtype
    self.shape = tensor.shape
    self.values = .tensor(tensor)
  }

  /// 64-bit integers (e.g. token ids) stored as `I64`.
  /// - Precondition: `values.count` is the product of `shape`.
  public init(_ name: String, int64 values: [Int64], shape: [Int]) {
    self.init(name, .i64, shape: shape, count: values.count, values: .int64(values))
  }

  /// 32-bit integers stored as `I32`.
  /// - Precondition: `values.count` is the product of `shape`.
  public init(_ name: String, int32 values: [Int32], shape: [Int]) {
    self.init(name, .i32, shape: shape, count: values.count, values: .int32(values))
  }

  /// Bytes stored as `U8`.
  /// - Precondition: `values.count` is the product of `shape`.
  public init(_ name: String, uint8 values: [UInt8], shape: [Int]) {
    self.init(name, .u8, shape: shape, count: values.count, values: .uint8(values))
  }

  private init(
    _ name: String, _ dtype: SafeTensorsDType, shape: [Int], count: Int, values: Values
  ) {
    precondition(
      shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == count,
      "SafeTensorsEntry '\(name)': \(count) values for shape \(shape)")
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.values = values
  }
}

/// Writing safetensors files.
public enum SafeTensors {
  /// Writes `entries` and `metadata` to `path` atomically, in the layout of the reference
  /// writer: tensors sorted by dtype (widest first) then name, contiguous, each aligned to its
  /// element size, after a header padded with spaces to a multiple of 8 bytes.
  ///
  /// The file is written under a temporary name in the same directory, flushed, then renamed over
  /// `path`; on any error the temporary file is removed and an existing `path` is left unchanged.
  /// - Throws: `SafeTensorsError` naming the file and, where one is at fault, the tensor: `.io`,
  ///   `.duplicateName`, `.invalidName` (`__metadata__`), `.notRepresentable` (a value that the
  ///   integer dtype cannot hold exactly).
  public static func write(
    _ entries: [SafeTensorsEntry], metadata: [String: String] = [:], to path: String
  ) throws {
    var seen = Set<String>()
    for entry in entries {
      guard entry.name != "__metadata__" else {
        throw SafeTensorsError(
          .invalidName, path: path, tensor: entry.name, "this name is reserved for metadata")
      }
      guard seen.insert(entry.name).inserted else {
        throw SafeTensorsError(
          .duplicateName, path: path, tensor: entry.name, "two entries have this name")
      }
    }
    let ordered = entries.sorted { left, right in
      if left.dtype.referenceRank != right.dtype.referenceRank {
        return left.dtype.referenceRank > right.dtype.referenceRank
      }
      return left.name.utf8.lexicographicallyPrecedes(right.name.utf8)
    }
    var header = Array(makeHeader(ordered, metadata: metadata).utf8)
    header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: (8 - header.count % 8) % 8))

    do {
      try writeFileAtomically(to: path) { sink in
        try withUnsafeBytes(of: UInt64(header.count).littleEndian) { try sink.write($0) }
        try header.withUnsafeBytes { try sink.write($0) }
        for entry in ordered { try writeData(entry, to: sink, path: path) }
      }
    } catch let error as SystemCallError {
      throw SafeTensorsError(.io, path: path, "cannot \(error.operation): \(error.reason)")
    }
  }

  /// Writes each tensor of `tensors` as `dtype`, with `metadata`, to `path` atomically.
  /// - Throws: as `write(_:metadata:to:)`.
  public static func write(
    _ tensors: [String: Tensor], as dtype: SafeTensorsDType = .f32,
    metadata: [String: String] = [:], to path: String
  ) throws {
    try write(
      tensors.map { SafeTensorsEntry($0.key, $0.value, as: dtype) }, metadata: metadata, to: path)
  }

  /// The JSON header for `entries` in data order, unpadded.
  static func makeHeader(_ entries: [SafeTensorsEntry], metadata: [String: String]) -> String {
    var fields: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
        .map { "\(jsonStringLiteral($0.key)):\(jsonStringLiteral($0.value))" }
      fields.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for entry in entries {
      let byteCount = entry.shape.reduce(1, *) * entry.dtype.elementSize
      let shape = entry.shape.map(String.init).joined(separator: ",")
      fields.append(
        "\(jsonStringLiteral(entry.name)):{\"dtype\":\"\(entry.dtype.rawValue)\","
          + "\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(offset + byteCount)]}")
      offset += byteCount
    }
    return "{\(fields.joined(separator: ","))}"
  }

  /// Elements converted per chunk when a tensor is not written from its own memory.
  static let chunkElements = 1 << 16

  static func writeData(_ entry: SafeTensorsEntry, to sink: AtomicFileSink, path: String) throws {
    switch entry.values {
    case .int64(let values): try sink.write(littleEndian: values)
    case .int32(let values): try sink.write(littleEndian: values)
    case .uint8(let values): try values.withUnsafeBytes { try sink.write($0) }
    case .tensor(let tensor):
      try tensor.withUnsafeBufferPointer { floats in
        #if _endian(little)
          if entry.dtype == .f32 {
            try sink.write(UnsafeRawBufferPointer(floats))
            return
          }
        #endif
        let scratch = UnsafeMutableRawPointer.allocate(
          byteCount: chunkElements * entry.dtype.elementSize, alignment: 64)
        defer { scratch.deallocate() }
        for start in stride(from: 0, to: floats.count, by: chunkElements) {
          let chunk = UnsafeBufferPointer(
            rebasing: floats[start..<min(start + chunkElements, floats.count)])
          if let bad = entry.dtype.encode(chunk, into: scratch) {
            throw SafeTensorsError(
              .notRepresentable, path: path, tensor: entry.name,
              "element \(start + bad) (\(chunk[bad])) is not exactly representable as "
                + "\(entry.dtype.rawValue); round or clamp the values first")
          }
          try sink.write(
            UnsafeRawBufferPointer(start: scratch, count: chunk.count * entry.dtype.elementSize))
        }
      }
    }
  }
}

extension AtomicFileSink {
  /// Writes `values` as little-endian integers.
  fileprivate func write<T: FixedWidthInteger>(littleEndian values: [T]) throws {
    #if _endian(little)
      try values.withUnsafeBytes { try write($0) }
    #else
      try values.map(\.littleEndian).withUnsafeBytes { try write($0) }
    #endif
  }
}
