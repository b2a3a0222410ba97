import MiniSupport

/// A safetensors file, memory-mapped and fully validated when opened.
///
/// Opening maps the file read-only and checks the header (UTF-8, strict JSON, unique names,
/// dtypes, shapes, and offsets that tile the data buffer with no gap, overlap or trailing byte);
/// no tensor data is read. Aligned `F32` tensors are then zero-copy views of the mapping, which
/// they keep alive; other dtypes are converted to `Float` on access.
///
/// ```swift
/// let file = try SafeTensorsFile(path: "model/model.safetensors")
/// let embedding = try file.tensor(named: "model.embed_tokens.weight")
/// ```
///
/// The file must not be truncated while mapped: the pages would vanish under the tensors.
public struct SafeTensorsFile: Sendable {
  /// Where one tensor lives in the file.
  public struct TensorInfo: Sendable, Equatable {
    /// The tensor's name in the header.
    public let name: String
    /// Element type in the file.
    public let dtype: SafeTensorsDType
    /// Shape (`[]` for a scalar).
    public let shape: [Int]
    /// Bytes relative to the start of the data buffer (the header's `data_offsets`).
    public let byteRange: Range<Int>

    /// Number of elements (1 for a scalar, 0 when a dimension is 0).
    public var elementCount: Int { shape.reduce(1, *) }
  }

  /// The path the file was opened with.
  public let path: String
  /// Tensor names in header order.
  public let names: [String]
  /// Every tensor's info in header order.
  public let tensorInfos: [TensorInfo]
  /// The header's `__metadata__` (empty when absent).
  public let metadata: [String: String]
  /// Offset of the data buffer from the start of the file.
  public let bufferStart: Int
  private let infos: [String: TensorInfo]
  private let file: MappedFile

  /// Maps and validates the file at `path`.
  /// - Throws: `SafeTensorsError` naming the file, and the tensor when one is at fault.
  public init(path: String) throws {
    let file: MappedFile
    do {
      file = try MappedFile(path: path)
    } catch let error as SystemCallError {
      throw SafeTensorsError(.io, path: path, "cannot \(error.operation): \(error.reason)")
    }
    let header = try file.withUnsafeBytes { bytes throws(SafeTensorsError) in
      try SafeTensorsFile.parseHeader(bytes, path: path)
    }
    self.path = path
    self.file = file
    self.tensorInfos = header.tensors
    self.names = header.tensors.map(\.name)
    self.metadata = header.metadata
    self.bufferStart = header.bufferStart
    self.infos = Dictionary(uniqueKeysWithValues: header.tensors.map { ($0.name, $0) })
  }

  /// The info of the tensor `name`, or `nil` when the file has none by that name.
  public func info(named name: String) -> TensorInfo? { infos[name] }

  /// Whether the file has a tensor called `name`.
  public func contains(_ name: String) -> Bool { infos[name] != nil }

  private func requireInfo(_ name: String) throws(SafeTensorsError) -> TensorInfo {
    guard let info = infos[name] else {
      throw SafeTensorsError(
        .tensorNotFound, path: path, tensor: name,
        "no such tensor (the file has \(names.count): \(names.prefix(5).joined(separator: ", "))"
          + "\(names.count > 5 ? ", …" : ""))")
    }
    return info
  }

  /// The tensor `name` as `Float`.
  ///
  /// An `F32` tensor whose data is 4-byte aligned in memory (always, for files written by this
  /// library or by the reference writer) is a read-only view of the mapping, with no copy; its
  /// first mutation copies it. Other tensors are converted to a new `Float` buffer (`F16`, `BF16`
  /// exactly; integers beyond 2^24 round to the nearest `Float`).
  /// - Throws: `SafeTensorsError` of kind `.tensorNotFound`.
  public func tensor(named name: String) throws -> Tensor {
    let info = try requireInfo(name)
    return file.withUnsafeBytes { bytes in
      let start = bytes.baseAddress! + bufferStart + info.byteRange.lowerBound
      #if _endian(little)
        if info.dtype == .f32, Int(bitPattern: start) % MemoryLayout<Float>.alignment == 0 {
          return Tensor(mappedFloats: start, shape: info.shape, owner: file)
        }
      #endif
      let tensor = Tensor(uninitializedShape: info.shape)
      info.dtype.decode(start, count: info.elementCount, into: tensor.storage.base)
      return tensor
    }
  }

  /// Every tensor by name, as `tensor(named:)` returns them.
  public func loadAll() throws -> [String: Tensor] {
    var tensors: [String: Tensor] = [:]
    tensors.reserveCapacity(names.count)
    for name in names { tensors[name] = try tensor(named: name) }
    return tensors
  }

  /// The elements of the integer tensor `name` (`I32`, `I64` or `U8`) as `Int64`, exactly.
  /// - Throws: `SafeTensorsError` of kind `.tensorNotFound`, or `.dtypeMismatch` for a float tensor.
  public func integers(named name: String) throws -> [Int64] {
    let info = try requireInfo(name)
    guard info.dtype.isInteger else {
      throw SafeTensorsError(
        .dtypeMismatch, path: path, tensor: name,
        "dtype \(info.dtype.rawValue) is not an integer type; use tensor(named:)")
    }
    return file.withUnsafeBytes { bytes in
      info.dtype.decodeIntegers(
        bytes.baseAddress! + bufferStart + info.byteRange.lowerBound, count: info.elementCount)
    }
  }

  /// Calls `body` with the tensor's bytes exactly as stored (little-endian, `info.dtype`).
  ///
  /// The bytes may be unaligned; read them with `loadUnaligned`. They must not escape `body`.
  /// - Throws: `SafeTensorsError` of kind `.tensorNotFound`, or what `body` throws.
  public func withRawBytes<R>(
    named name: String, _ body: (UnsafeRawBufferPointer) throws -> R
  ) throws -> R {
    let info = try requireInfo(name)
    return try file.withUnsafeBytes { bytes in
      try body(
        UnsafeRawBufferPointer(
          rebasing: bytes[
            (bufferStart + info.byteRange.lowerBound)..<(bufferStart
              + info.byteRange.upperBound)]))
    }
  }
}

extension Tensor {
  /// A contiguous read-only tensor over `Float`s at `base`, memory that `owner` keeps alive.
  init(mappedFloats base: UnsafeRawPointer, shape: [Int], owner: any AnyObject & Sendable) {
    let count = Tensor.checkedCount(shape)
    let floats = base.bindMemory(to: Float.self, capacity: count)
    self.init(
      storage: TensorStorage(mapped: floats, count: count, owner: owner), shape: shape,
      strides: Tensor.contiguousStrides(shape), offset: 0)
  }
}
