#if canImport(Glibc)
  import Glibc
#endif

extension Tensor {
  /// The shape two tensors broadcast to (NumPy rules).
  public static func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int] {
    let rank = Swift.max(a.count, b.count)
    var result = [Int](repeating: 1, count: rank)
    for i in 0..<rank {
      let da = i < rank - a.count ? 1 : a[i - (rank - a.count)]
      let db = i < rank - b.count ? 1 : b[i - (rank - b.count)]
      precondition(da == db || da == 1 || db == 1, "broadcast: \(a) and \(b) are incompatible")
      result[i] = da == 1 ? db : da
    }
    return result
  }

  /// Applies `op` element-wise to two tensors broadcast to a common shape.
  @inlinable
  public static func zip(_ a: Tensor, _ b: Tensor, _ op: (Float, Float) -> Float) -> Tensor {
    let shape = a.shape == b.shape ? a.shape : broadcastShape(a.shape, b.shape)
    let result = Tensor(uninitializedShape: shape)
    let out = result.storage.base
    if a.shape == shape && b.shape == shape && a.isContiguous && b.isContiguous {
      let pa = a.storage.base + a.offset
      let pb = b.storage.base + b.offset
      for i in 0..<result.count { out[i] = op(pa[i], pb[i]) }
      return result
    }
    if b.count == 1 && a.shape == shape && a.isContiguous {
      let pa = a.storage.base + a.offset
      let s = b.storage.base[b.offset]
      for i in 0..<result.count { out[i] = op(pa[i], s) }
      return result
    }
    let ba = a.broadcast(to: shape)
    let bb = b.broadcast(to: shape)
    var written = 0
    forEachRowPair(ba, bb) { pa, sa, pb, sb, n in
      for i in 0..<n { out[written + i] = op(pa[i * sa], pb[i * sb]) }
      written += n
    }
    return result
  }

  /// Calls `body` for each innermost row of two same-shaped (possibly strided) tensors.
  @usableFromInline
  static func forEachRowPair(
    _ a: Tensor, _ b: Tensor,
    _ body: (UnsafePointer<Float>, Int, UnsafePointer<Float>, Int, Int) -> Void
  ) {
    precondition(a.shape == b.shape, "forEachRowPair: \(a.shape) vs \(b.shape)")
    let count = a.count
    if count == 0 { return }
    let rank = a.rank
    if rank == 0 {
      body(a.storage.base + a.offset, 1, b.storage.base + b.offset, 1, 1)
      return
    }
    let inner = a.shape[rank - 1]
    let rows = count / inner
    var index = [Int](repeating: 0, count: rank - 1)
    var pa = a.offset
    var pb = b.offset
    for _ in 0..<rows {
      body(
        a.storage.base + pa, a.strides[rank - 1], b.storage.base + pb, b.strides[rank - 1], inner)
      var d = rank - 2
      while d >= 0 {
        index[d] += 1
        pa += a.strides[d]
        pb += b.strides[d]
        if index[d] < a.shape[d] { break }
        pa -= a.strides[d] * a.shape[d]
        pb -= b.strides[d] * b.shape[d]
        index[d] = 0
        d -= 1
      }
    }
  }

  /// Applies `op` to every element.
  @inlinable
  public func map(_ op: (Float) -> Float) -> Tensor {
    let source = contiguous()
    let result = Tensor(uninitializedShape: shape)
    let input = source.storage.base + source.offset
    let out = result.storage.base
    for i in 0..<result.count { out[i] = op(input[i]) }
    return result
  }

  /// Element-wise sum with broadcasting.
  public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { zip(lhs, rhs, +) }
  /// Element-wise difference with broadcasting.
  public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { zip(lhs, rhs, -) }
  /// Element-wise product with broadcasting.
  public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { zip(lhs, rhs, *) }
  /// Element-wise quotient with broadcasting.
  public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { zip(lhs, rhs, /) }
  /// Adds a scalar to every element.
  public static func + (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 + rhs } }
  /// Subtracts a scalar from every element.
  public static func - (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 - rhs } }
  /// Multiplies every element by a scalar.
  public static func * (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 * rhs } }
  /// Divides every element by a scalar.
  public static func / (lhs: Tensor, rhs: Float) -> Tensor { lhs.map { $0 / rhs } }
  /// Multiplies every element by a scalar.
  public static func * (lhs: Float, rhs: Tensor) -> Tensor { rhs.map { lhs * $0 } }
  /// Subtracts every element from a scalar.
  public static func - (lhs: Float, rhs: Tensor) -> Tensor { rhs.map { lhs - $0 } }
  /// Negates every element.
  public static prefix func - (tensor: Tensor) -> Tensor { tensor.map { -$0 } }

  /// Adds `rhs` (broadcast to this shape) in place.
  public static func += (lhs: inout Tensor, rhs: Tensor) {
    if lhs.shape == rhs.shape && rhs.isContiguous {
      lhs.makeUniqueContiguous()
      let out = lhs.storage.base + lhs.offset
      let input = rhs.storage.base + rhs.offset
      for i in 0..<lhs.count { out[i] += input[i] }
    } else {
      precondition(
        broadcastShape(lhs.shape, rhs.shape) == lhs.shape,
        "+=: \(rhs.shape) does not broadcast to \(lhs.shape)")
      lhs = lhs + rhs
    }
  }

  /// Element-wise minimum with broadcasting.
  public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor { zip(a, b) { Swift.min($0, $1) } }
  /// Element-wise maximum with broadcasting.
  public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor { zip(a, b) { Swift.max($0, $1) } }

  /// `e^x`.
  public func exp() -> Tensor { map { expf($0) } }
  /// Natural logarithm.
  public func log() -> Tensor { map { logf($0) } }
  /// Square root.
  public func sqrt() -> Tensor { map { $0.squareRoot() } }
  /// `1 / sqrt(x)`.
  public func rsqrt() -> Tensor { map { 1 / $0.squareRoot() } }
  /// `x²`.
  public func squared() -> Tensor { map { $0 * $0 } }
  /// `|x|`.
  public func abs() -> Tensor { map { Swift.abs($0) } }
  /// `x^exponent`.
  public func pow(_ exponent: Float) -> Tensor { map { powf($0, exponent) } }
  /// Hyperbolic tangent.
  public func tanh() -> Tensor { map { tanhf($0) } }
  /// Logistic sigmoid `1 / (1 + e^-x)`.
  public func sigmoid() -> Tensor { map { 1 / (1 + expf(-$0)) } }
  /// `max(x, 0)`.
  public func relu() -> Tensor { map { Swift.max($0, 0) } }
  /// SiLU (swish): `x · sigmoid(x)`.
  public func silu() -> Tensor { map { $0 / (1 + expf(-$0)) } }
  /// GELU with the exact erf form, as `torch.nn.functional.gelu`.
  public func gelu() -> Tensor { map { 0.5 * $0 * (1 + erff($0 * 0.707_106_77)) } }
  /// GELU with the tanh approximation (`approximate="tanh"`).
  public func geluTanh() -> Tensor {
    map { 0.5 * $0 * (1 + tanhf(0.797_884_56 * ($0 + 0.044_715 * $0 * $0 * $0))) }
  }
  /// Clamps every element into `range`.
  public func clamped(to range: ClosedRange<Float>) -> Tensor {
    map { Swift.min(Swift.max($0, range.lowerBound), range.upperBound) }
  }
}
