import Foundation

/// A strided, copy-on-write array of `Float` with a shape.
///
/// Views (`reshaped`, `transposed`, `sliced`) share storage; the first mutation of a shared or
/// memory-mapped storage copies it. Scalars have shape `[]`.
public struct Tensor: Sendable {
  /// Size of each dimension.
  public private(set) var shape: [Int]
  /// Element step of each dimension.
  public private(set) var strides: [Int]
  /// Element offset of the first element in `storage`.
  @usableFromInline var offset: Int
  @usableFromInline var storage: TensorStorage

  @usableFromInline
  init(storage: TensorStorage, shape: [Int], strides: [Int], offset: Int) {
    self.storage = storage
    self.shape = shape
    self.strides = strides
    self.offset = offset
  }

  /// A contiguous tensor of `shape` over freshly allocated, uninitialised memory.
  @usableFromInline
  init(uninitializedShape shape: [Int]) {
    let count = Tensor.checkedCount(shape)
    self.init(
      storage: TensorStorage(uninitializedCount: count), shape: shape,
      strides: Tensor.contiguousStrides(shape), offset: 0)
  }

  /// Number of dimensions.
  @inlinable public var rank: Int { shape.count }

  /// Number of elements (1 for a scalar).
  @inlinable public var count: Int { shape.reduce(1, *) }

  /// Whether elements are laid out densely in row-major order.
  public var isContiguous: Bool {
    // An empty tensor has no layout to respect (and its strides may be anything).
    if shape.contains(0) { return true }
    var expected = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
      if strides[d] != expected { return false }
      expected *= shape[d]
    }
    return true
  }

  /// Row-major strides for `shape`.
  @inlinable
  public static func contiguousStrides(_ shape: [Int]) -> [Int] {
    var strides = [Int](repeating: 1, count: shape.count)
    var step = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      strides[d] = step
      step *= Swift.max(shape[d], 1)
    }
    return strides
  }

  @usableFromInline
  static func checkedCount(_ shape: [Int]) -> Int {
    var count = 1
    for d in shape {
      precondition(d >= 0, "Tensor: negative dimension in shape \(shape)")
      let (product, overflow) = count.multipliedReportingOverflow(by: d)
      precondition(!overflow, "Tensor: shape \(shape) overflows Int")
      count = product
    }
    return count
  }

  /// Calls `body` with the elements in row-major order (copying first if the tensor is strided).
  @inlinable
  public func withUnsafeBufferPointer<R>(
    _ body: (UnsafeBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    if isContiguous {
      return try body(UnsafeBufferPointer(start: storage.base + offset, count: count))
    }
    return try contiguous().withUnsafeBufferPointer(body)
  }

  /// Calls `body` with writable elements in row-major order, first making the storage unique,
  /// writable and contiguous.
  @inlinable
  public mutating func withUnsafeMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    makeUniqueContiguous()
    return try body(UnsafeMutableBufferPointer(start: storage.base + offset, count: count))
  }

  /// Ensures this value alone owns a writable, contiguous storage.
  @inlinable
  public mutating func makeUniqueContiguous() {
    if !isKnownUniquelyReferenced(&storage) || !storage.isWritable || !isContiguous
      || storage.count != count
    {
      self = contiguousCopy()
    }
  }

  /// The elements as an array in row-major order.
  public var scalars: [Float] { withUnsafeBufferPointer { Array($0) } }

  /// The single element of a one-element tensor.
  public var item: Float {
    precondition(count == 1, "item: tensor has shape \(shape), not one element")
    return storage.base[offset]
  }

  /// Reads or writes the element at a full index.
  public subscript(index: Int...) -> Float {
    get { storage.base[elementOffset(index)] }
    set {
      makeUniqueContiguous()
      storage.base[elementOffset(index)] = newValue
    }
  }

  func elementOffset(_ index: [Int]) -> Int {
    precondition(index.count == rank, "subscript: index \(index) for shape \(shape)")
    var position = offset
    for (d, i) in index.enumerated() {
      precondition(i >= 0 && i < shape[d], "subscript: index \(index) out of bounds for \(shape)")
      position += i * strides[d]
    }
    return position
  }
}

extension Tensor: CustomStringConvertible {
  /// Shape and the first few values, e.g. `Tensor[2, 3] [0.1, 0.2, 0.3, 0.4, …]`.
  public var description: String {
    let values = withUnsafeBufferPointer { buffer in
      buffer.prefix(6).map { String(format: "%.4g", Double($0)) }
    }
    let more = count > 6 ? ", …" : ""
    return "Tensor\(shape) [\(values.joined(separator: ", "))\(more)]"
  }
}

extension Tensor: Equatable {
  /// Equal shapes and elements (views are compared by value).
  public static func == (lhs: Tensor, rhs: Tensor) -> Bool {
    lhs.shape == rhs.shape && lhs.scalars == rhs.scalars
  }
}
