import Foundation
import MiniTensor
import TestSupport
import Testing

// Shared helpers for the kernel tests (random data, owned buffers, Double finite differences),
// and the accuracy test of the vectorised `exp` every kernel relies on.

/// A heap buffer of floats with a stable address for passing to kernels.
final class FloatBuffer {
  let pointer: UnsafeMutablePointer<Float>
  let count: Int

  init(_ values: [Float]) {
    count = values.count
    pointer = .allocate(capacity: max(count, 1))
    pointer.initialize(repeating: 0, count: max(count, 1))
    for i in 0..<count { pointer[i] = values[i] }
  }

  convenience init(zeros count: Int) { self.init([Float](repeating: 0, count: count)) }

  convenience init(repeating value: Float, count: Int) {
    self.init([Float](repeating: value, count: count))
  }

  var array: [Float] { Array(UnsafeBufferPointer(start: pointer, count: count)) }
  var doubles: [Double] { array.map(Double.init) }

  deinit { pointer.deallocate() }
}

/// `count` normal samples times `scale`.
func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
  var rng = PhiloxRNG(seed: seed)
  return (0..<count).map { _ in rng.nextNormal() * scale }
}

/// Central differences of a `Double` function, perturbing in `Double` (step `h`), so the
/// reference gradient is accurate to ~1e-9 for the smooth functions tested here.
func centralDifference(
  of function: ([Double]) -> Double, at point: [Double], step h: Double = 1e-5
) -> [Float] {
  var x = point
  var gradient = [Float](repeating: 0, count: point.count)
  for i in point.indices {
    let original = x[i]
    x[i] = original + h
    let plus = function(x)
    x[i] = original - h
    let minus = function(x)
    x[i] = original
    gradient[i] = Float((plus - minus) / (2 * h))
  }
  return gradient
}

/// `Σ w[i]·y[i]` in Double: the scalar loss whose gradient with respect to `y` is `w`.
func weightedSum(_ y: [Double], _ w: [Float]) -> Double {
  var total: Double = 0
  for i in y.indices { total += y[i] * Double(w[i]) }
  return total
}

@Suite("Kernels.exp")
struct KernelExpTests {
  @Test func matchesDoubleExpAcrossTheFloatRange() {
    // Relative error against Double exp, sampled densely over the whole normal range.
    var worst: Double = 0
    var x: Float = -87.3
    while x < 88.7 {
      let fast = Double(Kernels.exp(x))
      let exact = Foundation.exp(Double(x))
      worst = max(worst, abs(fast - exact) / exact)
      x += 0.001_37
    }
    // Cephes-style expf: a few Float ulps at most (ulp/2 ≈ 6e-8).
    #expect(worst < 2.5e-7, "max relative error \(worst)")
  }

  @Test func nonPositiveVariantMatchesOnItsRange() {
    var worst: Double = 0
    var x: Float = -87.3
    while x <= 0.001 {
      let lanes = SIMD8<Float>(repeating: x)
      let fast = Kernels.expOfNonPositive(lanes)[5]
      #expect(fast == Kernels.exp(lanes)[5])
      let exact = Foundation.exp(Double(x))
      worst = max(worst, abs(Double(fast) - exact) / exact)
      x += 0.000_97
    }
    #expect(worst < 2.5e-7, "max relative error \(worst)")
    #expect(Kernels.expOfNonPositive(SIMD8(repeating: -.infinity))[0] == 0)
    #expect(Kernels.expOfNonPositive(SIMD8(repeating: -1e30))[0] == 0)
    #expect(Kernels.expOfNonPositive(SIMD8(repeating: .nan))[0].isNaN)
  }

  @Test func lanesAgreeWithScalarAndEdgesAreHandled() {
    let values: [Float] = [0, 1, -1, 88.72, -87.33, 100, -100, .infinity, -.infinity, .nan]
    for v in values {
      let lanes = Kernels.exp(SIMD8<Float>(repeating: v))
      let scalar = Kernels.exp(v)
      #expect(lanes[3] == scalar || (lanes[3].isNaN && scalar.isNaN))
    }
    #expect(Kernels.exp(0) == 1)
    #expect(Kernels.exp(100) == .infinity)
    #expect(Kernels.exp(.infinity) == .infinity)
    #expect(Kernels.exp(-100) == 0)
    #expect(Kernels.exp(-.infinity) == 0)
    #expect(Kernels.exp(.nan).isNaN)
    let nearMax = Double(Kernels.exp(88.72))
    #expect(abs(nearMax - Foundation.exp(Double(Float(88.72)))) / nearMax < 3e-7)
  }
}
