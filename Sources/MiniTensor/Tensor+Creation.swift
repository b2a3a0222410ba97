extension Tensor {
  /// A tensor of `shape` filled with `value`.
  public init(repeating value: Float, shape: [Int]) {
    let count = Tensor.checkedCount(shape)
    self.init(
      storage: TensorStorage(count: count, repeating: value), shape: shape,
      strides: Tensor.contiguousStrides(shape), offset: 0)
  }

  /// A tensor of zeros.
  public static func zeros(_ shape: [Int]) -> Tensor { Tensor(repeating: 0, shape: shape) }

  /// A tensor of zeros in pages the kernel maps as they are first written, for a large buffer
  /// of which only a part may ever be used (a key/value cache for a model's whole context).
  public static func zeroPages(_ shape: [Int]) -> Tensor {
    Tensor(
      storage: TensorStorage(zeroPagesCount: Tensor.checkedCount(shape)), shape: shape,
      strides: Tensor.contiguousStrides(shape), offset: 0)
  }

  /// A tensor of ones.
  public static func ones(_ shape: [Int]) -> Tensor { Tensor(repeating: 1, shape: shape) }

  /// A scalar (rank-0) tensor.
  public init(_ value: Float) { self.init(repeating: value, shape: []) }

  /// A tensor holding `scalars` in row-major order.
  /// - Precondition: `scalars.count` equals the product of `shape`.
  public init(_ scalars: [Float], shape: [Int]) {
    self.init(uninitializedShape: shape)
    precondition(
      scalars.count == count, "Tensor: \(scalars.count) scalars for shape \(shape)")
    if count == 0 { return }  // an empty array may have no base address
    scalars.withUnsafeBufferPointer { source in
      storage.base.update(from: source.baseAddress!, count: source.count)
    }
  }

  /// A 1-D tensor of `scalars`.
  public init(_ scalars: [Float]) { self.init(scalars, shape: [scalars.count]) }

  /// A tensor whose elements are written by `body` in row-major order.
  public init(
    shape: [Int], initializingWith body: (UnsafeMutableBufferPointer<Float>) throws -> Void
  )
    rethrows
  {
    self.init(uninitializedShape: shape)
    let buffer = UnsafeMutableBufferPointer(start: storage.base, count: count)
    buffer.initialize(repeating: 0)
    try body(buffer)
  }

  /// `0, 1, …, count-1` as a 1-D tensor.
  public static func arange(_ count: Int) -> Tensor {
    Tensor(shape: [count]) { buffer in
      for i in 0..<count { buffer[i] = Float(i) }
    }
  }

  /// Normal samples with the given mean and standard deviation.
  public static func randomNormal(
    _ shape: [Int], mean: Float = 0, standardDeviation: Float = 1, using rng: inout PhiloxRNG
  ) -> Tensor {
    Tensor(shape: shape) { buffer in
      rng.fillNormal(buffer, mean: mean, standardDeviation: standardDeviation)
    }
  }

  /// Uniform samples in `range` (lower bound included, upper excluded).
  public static func randomUniform(
    _ shape: [Int], in range: Range<Float> = 0..<1, using rng: inout PhiloxRNG
  ) -> Tensor {
    Tensor(shape: shape) { buffer in
      rng.fillUniform(buffer, in: range)
    }
  }
}
