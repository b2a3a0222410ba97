import MiniSupport
import MiniTensor

/// A tensor to be written into a GGUF file.
public struct GGUFTensor: Sendable {
  /// The llama.cpp name, e.g. `blk.0.attn_q.weight`.
  public var name: String
  /// How the values are stored.
  public var type: GGMLType
  /// The values, in row-major order with the PyTorch shape (`[out, in]` for a linear layer).
  public var values: Tensor

  /// A tensor named `name` stored as `type`.
  /// - Precondition: the last (fastest) dimension of `values` is whole `type` blocks.
  public init(name: String, type: GGMLType, values: Tensor) {
    precondition(
      !values.shape.isEmpty && values.shape.count <= 4, "GGUF \(name): shape \(values.shape)")
    precondition(
      values.shape.last! % type.blockSize == 0,
      "GGUF \(name): rows of \(values.shape.last!) are not whole \(type.name) blocks")
    self.name = name
    self.type = type
    self.values = values
  }

  /// ggml's dimensions `ne`, fastest first: the PyTorch shape reversed.
  public var dimensions: [Int] { values.shape.reversed() }

  /// Bytes of the tensor's data (without alignment padding).
  public var byteCount: Int {
    values.count / values.shape.last! * type.rowByteCount(values.shape.last!)
  }
}

/// Where everything lands in a GGUF file, computed before anything is written.
public struct GGUFLayout: Sendable, Equatable {
  /// Offset of each tensor's data, relative to `dataOffset`, in `tensors` order.
  public var tensorOffsets: [Int]
  /// Offset of the data section (a multiple of the alignment).
  public var dataOffset: Int
  /// Size of the whole file in bytes.
  public var fileSize: Int
}

/// Writes a GGUF version 3 file: the header, key/value metadata, tensor infos, padding to the
/// alignment, then each tensor's data padded to the alignment.
///
/// The layout and the exact file size are computed before writing, and the write checks that it
/// produced exactly that many bytes. The file is written atomically (temporary file, then
/// rename).
public struct GGUFWriter: Sendable {
  /// The file format version written.
  public static let version: UInt32 = 3
  /// `"GGUF"` read as a little-endian `UInt32`.
  public static let magic: UInt32 = 0x4655_4747
  /// The alignment when `general.alignment` is absent.
  public static let defaultAlignment = 32

  /// The metadata in file order; keys are unique.
  public private(set) var metadata: [(key: String, value: GGUFValue)] = []
  /// The tensors in file order.
  public var tensors: [GGUFTensor] = []
  /// Alignment of the data section and of each tensor (`general.alignment`).
  public let alignment: Int

  /// An empty file description; an `alignment` other than 32 is recorded as
  /// `general.alignment`.
  /// - Precondition: `alignment` is a power of two.
  public init(alignment: Int = GGUFWriter.defaultAlignment) {
    precondition(
      alignment > 0 && alignment & (alignment - 1) == 0 && alignment <= Int(UInt32.max),
      "GGUF alignment \(alignment) is not a power of two")
    self.alignment = alignment
    if alignment != Self.defaultAlignment {
      metadata.append(("general.alignment", .uint32(UInt32(alignment))))
    }
  }

  /// Sets `key` to `value`, replacing an earlier value in place.
  /// - Precondition: `general.alignment` is set only through `init(alignment:)`.
  public mutating func set(_ key: String, _ value: GGUFValue) {
    precondition(key != "general.alignment", "GGUF: set general.alignment with init(alignment:)")
    if case .array(let elementType, let elements) = value {
      precondition(
        elementType != .array && elements.allSatisfy { $0.type == elementType },
        "GGUF \(key): array elements must all be \(elementType), and not arrays")
    }
    if let index = metadata.firstIndex(where: { $0.key == key }) {
      metadata[index].value = value
    } else {
      metadata.append((key, value))
    }
  }

  /// The value of `key`, if set.
  public func value(_ key: String) -> GGUFValue? {
    metadata.first { $0.key == key }?.value
  }

  /// Offsets and the exact file size.
  public func layout() -> GGUFLayout {
    var size = 4 + 4 + 8 + 8
    for (key, value) in metadata {
      size += 8 + key.utf8.count + 4 + value.encodedByteCount
    }
    for tensor in tensors {
      size += 8 + tensor.name.utf8.count + 4 + 8 * tensor.values.shape.count + 4 + 8
    }
    let dataOffset = aligned(size)
    var offsets: [Int] = []
    var position = 0
    for tensor in tensors {
      offsets.append(position)
      position += aligned(tensor.byteCount)
    }
    return GGUFLayout(
      tensorOffsets: offsets, dataOffset: dataOffset, fileSize: dataOffset + position)
  }

  private func aligned(_ offset: Int) -> Int {
    (offset + alignment - 1) / alignment * alignment
  }

  /// Writes the file atomically.
  /// - Parameters:
  ///   - path: the output file; replaced only once the new file is complete.
  ///   - onTensor: called before each tensor's data is written, with its index.
  /// - Returns: the layout written; its `fileSize` is the size of the file.
  /// - Throws: `SystemCallError` when the file cannot be written.
  @discardableResult
  public func write(to path: String, onTensor: (Int, GGUFTensor) -> Void = { _, _ in }) throws
    -> GGUFLayout
  {
    let names = Set(tensors.map(\.name))
    precondition(names.count == tensors.count, "GGUF: duplicate tensor names")
    let layout = layout()
    try writeFileAtomically(to: path) { sink in
      var written = 0
      func emit(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try sink.write($0) }
        written += bytes.count
      }
      var header = GGUFByteBuffer()
      header.append(Self.magic)
      header.append(Self.version)
      header.append(UInt64(tensors.count))
      header.append(UInt64(metadata.count))
      for (key, value) in metadata {
        header.append(key)
        header.append(value.type.rawValue)
        header.append(value)
      }
      for (tensor, offset) in zip(tensors, layout.tensorOffsets) {
        header.append(tensor.name)
        header.append(UInt32(tensor.values.shape.count))
        for dimension in tensor.dimensions { header.append(UInt64(dimension)) }
        header.append(tensor.type.rawValue)
        header.append(UInt64(offset))
      }
      header.pad(to: layout.dataOffset)
      try emit(header.bytes)
      for (index, tensor) in tensors.enumerated() {
        onTensor(index, tensor)
        precondition(written == layout.dataOffset + layout.tensorOffsets[index])
        written += try writeData(of: tensor, to: sink)
        let padding = aligned(tensor.byteCount) - tensor.byteCount
        if padding > 0 { try emit([UInt8](repeating: 0, count: padding)) }
      }
      precondition(
        written == layout.fileSize,
        "GGUF: wrote \(written) bytes, the layout says \(layout.fileSize)")
    }
    return layout
  }

  /// Encodes and writes a tensor's values a slice of rows at a time; returns the bytes written.
  private func writeData(of tensor: GGUFTensor, to sink: AtomicFileSink) throws -> Int {
    let rowLength = tensor.values.shape.last!
    let rowBytes = tensor.type.rowByteCount(rowLength)
    let rowCount = tensor.values.count / rowLength
    let rowsPerChunk = max(1, (1 << 20) / max(rowBytes, 1))
    var buffer = [UInt8](repeating: 0, count: min(rowCount, rowsPerChunk) * rowBytes)
    var written = 0
    try tensor.values.withUnsafeBufferPointer { values in
      var row = 0
      while row < rowCount {
        let rows = min(rowsPerChunk, rowCount - row)
        let source = UnsafeBufferPointer(
          rebasing: values[row * rowLength..<(row + rows) * rowLength])
        try buffer.withUnsafeMutableBytes { raw in
          let output = UnsafeMutableRawBufferPointer(rebasing: raw[0..<rows * rowBytes])
          for r in 0..<rows {
            tensor.type.encode(
              UnsafeBufferPointer(rebasing: source[r * rowLength..<(r + 1) * rowLength]),
              into: UnsafeMutableRawBufferPointer(
                rebasing: output[r * rowBytes..<(r + 1) * rowBytes]))
          }
          try sink.write(UnsafeRawBufferPointer(output))
        }
        written += rows * rowBytes
        row += rows
      }
    }
    return written
  }
}

/// Little-endian serialisation of GGUF header fields.
struct GGUFByteBuffer {
  var bytes: [UInt8] = []

  mutating func append<T: FixedWidthInteger>(_ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  mutating func append(_ text: String) {
    append(UInt64(text.utf8.count))
    bytes.append(contentsOf: text.utf8)
  }

  mutating func append(_ value: GGUFValue) {
    switch value {
    case .uint8(let v): append(v)
    case .int8(let v): append(v)
    case .uint16(let v): append(v)
    case .int16(let v): append(v)
    case .uint32(let v): append(v)
    case .int32(let v): append(v)
    case .float32(let v): append(v.bitPattern)
    case .bool(let v): append(UInt8(v ? 1 : 0))
    case .string(let v): append(v)
    case .uint64(let v): append(v)
    case .int64(let v): append(v)
    case .float64(let v): append(v.bitPattern)
    case .array(let elementType, let elements):
      append(elementType.rawValue)
      append(UInt64(elements.count))
      for element in elements { append(element) }
    }
  }

  mutating func pad(to size: Int) {
    precondition(bytes.count <= size, "GGUF header: \(bytes.count) bytes > \(size)")
    bytes.append(contentsOf: repeatElement(0, count: size - bytes.count))
  }
}
