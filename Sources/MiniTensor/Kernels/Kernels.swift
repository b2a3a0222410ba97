/// The hot non-GEMM layers of a Llama as forward/backward pairs over raw row-major `Float` buffers.
///
/// Every kernel follows the llm.c pattern: plain loops with shape letters, `d`-prefixed gradients,
/// no allocation beyond small per-thread scratch, and rows split over cores with `parallelFor` on
/// disjoint ranges once the work is large enough to pay for the hand-off. Gradients documented as
/// *overwritten* are written in full; gradients documented as *accumulated* are added to.
package enum Kernels {
  /// Elements of work below which a kernel stays on the calling thread: a thread hand-off costs
  /// a few microseconds, about what one core needs for this many simple element operations.
  static let parallelWork = 32_768

  /// The `grain` (rows per thread, at least) for rows of `width` elements of work each.
  @inline(__always)
  static func rowGrain(width: Int) -> Int {
    max(1, parallelWork / max(width, 1))
  }
}

// MARK: - Vector helpers

/// Loads eight floats from `p` (no alignment needed).
@inline(__always)
func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

/// Stores eight floats at `p` (no alignment needed).
@inline(__always)
func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Loads the `count` (< 8) floats at `p` into the first lanes, `fill` in the others.
@inline(__always)
func loadPartial8(_ p: UnsafePointer<Float>, _ count: Int, fill: Float = 0) -> SIMD8<Float> {
  var v = SIMD8<Float>(repeating: fill)
  for i in 0..<count { v[i] = p[i] }
  return v
}

/// Stores the first `count` (< 8) lanes of `v` at `p`.
@inline(__always)
func storePartial8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
  for i in 0..<count { p[i] = v[i] }
}

/// Sum of the lanes of `v` in a fixed order, in `Double`.
@inline(__always)
func laneSum(_ v: SIMD8<Float>) -> Double {
  let low = SIMD4<Double>(Double(v[0]), Double(v[1]), Double(v[2]), Double(v[3]))
  let high = SIMD4<Double>(Double(v[4]), Double(v[5]), Double(v[6]), Double(v[7]))
  let s = low + high
  return (s[0] + s[2]) + (s[1] + s[3])
}

/// Elements summed in `Float` lanes before the partial sum moves to a `Double`: short enough
/// that the `Float` rounding stays near one ulp, long enough that the conversion costs nothing.
let floatBlock = 256

/// `Σ a[i]·b[i]` over `count` elements: `Float` lanes within blocks of `floatBlock`, `Double`
/// across blocks. The summation order depends only on `count`, so results are reproducible.
@inline(__always)
func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ count: Int) -> Double {
  var total: Double = 0
  var start = 0
  while start < count {
    let end = min(start + floatBlock, count)
    var acc0 = SIMD8<Float>()
    var acc1 = SIMD8<Float>()
    var i = start
    while i + 16 <= end {
      acc0.addProduct(load8(a + i), load8(b + i))
      acc1.addProduct(load8(a + i + 8), load8(b + i + 8))
      i += 16
    }
    if i + 8 <= end {
      acc0.addProduct(load8(a + i), load8(b + i))
      i += 8
    }
    if i < end {
      acc1.addProduct(loadPartial8(a + i, end - i), loadPartial8(b + i, end - i))
    }
    total += laneSum(acc0 + acc1)
    start = end
  }
  return total
}

/// `Σ a[i]·b[i]·c[i]` over `count` elements, summed as in `dot`.
@inline(__always)
func dot3(
  _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ c: UnsafePointer<Float>, _ count: Int
) -> Double {
  var total: Double = 0
  var start = 0
  while start < count {
    let end = min(start + floatBlock, count)
    var acc0 = SIMD8<Float>()
    var acc1 = SIMD8<Float>()
    var i = start
    while i + 16 <= end {
      acc0.addProduct(load8(a + i) * load8(b + i), load8(c + i))
      acc1.addProduct(load8(a + i + 8) * load8(b + i + 8), load8(c + i + 8))
      i += 16
    }
    if i + 8 <= end {
      acc0.addProduct(load8(a + i) * load8(b + i), load8(c + i))
      i += 8
    }
    if i < end {
      let n = end - i
      acc1.addProduct(loadPartial8(a + i, n) * loadPartial8(b + i, n), loadPartial8(c + i, n))
    }
    total += laneSum(acc0 + acc1)
    start = end
  }
  return total
}

/// The largest of `count` (≥ 1) floats, ignoring NaNs (the callers' exponentials carry any NaN
/// into their sums).
@inline(__always)
func maxElement(_ p: UnsafePointer<Float>, _ count: Int) -> Float {
  var best = SIMD8<Float>(repeating: -.infinity)
  var i = 0
  while i + 8 <= count {
    let v = load8(p + i)
    best = best.replacing(with: v, where: v .> best)
    i += 8
  }
  if i < count {
    let v = loadPartial8(p + i, count - i, fill: -.infinity)
    best = best.replacing(with: v, where: v .> best)
  }
  var result = best[0]
  for lane in 1..<8 where best[lane] > result { result = best[lane] }
  return result
}
