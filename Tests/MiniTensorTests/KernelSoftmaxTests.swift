import Foundation
import MiniTensor
import TestSupport
import Testing

/// Softmax (or log-softmax) of each row in Double.
func referenceSoftmax(_ x: [Double], rows: Int, cols: Int, log: Bool = false) -> [Double] {
  var y = x
  for r in 0..<rows {
    let row = x[(r * cols)..<((r + 1) * cols)]
    let m = row.max()!
    let total = row.reduce(0) { $0 + Foundation.exp($1 - m) }
    for i in 0..<cols {
      let shifted = x[r * cols + i] - m
      y[r * cols + i] = log ? shifted - Foundation.log(total) : Foundation.exp(shifted) / total
    }
  }
  return y
}

@Suite("Kernels softmax")
struct KernelSoftmaxTests {
  static let shapes = [(1, 1), (1, 8), (3, 17), (17, 3), (2, 65), (4, 300), (65, 5)]

  @Test(arguments: shapes)
  func forwardMatchesDoubleReference(rows: Int, cols: Int) {
    // Large offsets check the max subtraction.
    let values = randomFloats(rows * cols, seed: 21, scale: 3).map { $0 + 80 }
    let x = FloatBuffer(values)
    let y = FloatBuffer(zeros: rows * cols)
    let logY = FloatBuffer(zeros: rows * cols)
    Kernels.softmaxForward(x: x.pointer, output: y.pointer, rows: rows, cols: cols)
    Kernels.logSoftmaxForward(x: x.pointer, output: logY.pointer, rows: rows, cols: cols)
    let xd = values.map(Double.init)
    // exp to ~2e-7 relative, one Float rounding of the output.
    expectClose(
      y.array, referenceSoftmax(xd, rows: rows, cols: cols).map(Float.init), rtol: 1e-6,
      atol: 1e-7)
    // log-probabilities are differences of numbers near 80: absolute error ~ ulp(80) ≈ 8e-6.
    expectClose(
      logY.array, referenceSoftmax(xd, rows: rows, cols: cols, log: true).map(Float.init),
      rtol: 0, atol: 2e-5)
  }

  @Test(arguments: shapes)
  func backwardsMatchCentralDifferences(rows: Int, cols: Int) {
    let values = randomFloats(rows * cols, seed: 22, scale: 2)
    let w = randomFloats(rows * cols, seed: 23)
    let xd = values.map(Double.init)
    let x = FloatBuffer(values)
    let dy = FloatBuffer(w)
    for log in [false, true] {
      let y = FloatBuffer(zeros: rows * cols)
      let dx = FloatBuffer(zeros: rows * cols)
      if log {
        Kernels.logSoftmaxForward(x: x.pointer, output: y.pointer, rows: rows, cols: cols)
        Kernels.logSoftmaxBackward(
          dy: dy.pointer, y: y.pointer, dx: dx.pointer, rows: rows, cols: cols)
      } else {
        Kernels.softmaxForward(x: x.pointer, output: y.pointer, rows: rows, cols: cols)
        Kernels.softmaxBackward(
          dy: dy.pointer, y: y.pointer, dx: dx.pointer, rows: rows, cols: cols)
      }
      let numeric = centralDifference(
        of: { weightedSum(referenceSoftmax($0, rows: rows, cols: cols, log: log), w) }, at: xd)
      // Float kernels against Double differences (error ~1e-9).
      expectClose(dx.array, numeric, rtol: 1e-4, atol: 2e-6, "log: \(log)")
    }
  }

  @Test func maskedEntriesGetZeroProbability() {
    let x = FloatBuffer([1, -.infinity, 2, -.infinity, 0, 3, -.infinity, -.infinity, 5])
    let y = FloatBuffer(zeros: 9)
    Kernels.softmaxForward(x: x.pointer, output: y.pointer, rows: 1, cols: 9)
    let p = y.array
    #expect(p[1] == 0 && p[3] == 0 && p[6] == 0 && p[7] == 0)
    expectClose([p.reduce(0, +)], [1], rtol: 0, atol: 1e-6)
    expectClose(
      [p[0], p[2], p[4], p[5], p[8]],
      referenceSoftmax([1, 2, 0, 3, 5], rows: 1, cols: 5).map(Float.init), rtol: 1e-6, atol: 1e-7)
  }

  @Test func tensorSoftmaxUsesTheLastAxisOfAnyLayout() {
    var rng = PhiloxRNG(seed: 24)
    let t = Tensor.randomNormal([3, 4, 5], using: &rng).transposed(0, 2)  // [5, 4, 3], strided
    let s = t.softmax()
    let l = t.logSoftmax()
    #expect(s.shape == [5, 4, 3] && l.shape == [5, 4, 3])
    let xd = t.scalars.map(Double.init)
    expectClose(
      s.scalars, referenceSoftmax(xd, rows: 20, cols: 3).map(Float.init), rtol: 1e-6, atol: 1e-7)
    expectClose(
      l.scalars, referenceSoftmax(xd, rows: 20, cols: 3, log: true).map(Float.init), rtol: 1e-6,
      atol: 1e-6)
    expectClose(s.sum(axis: -1).scalars, [Float](repeating: 1, count: 20), atol: 1e-6)
    #expect(Tensor.zeros([2, 0]).softmax().shape == [2, 0])
  }
}
