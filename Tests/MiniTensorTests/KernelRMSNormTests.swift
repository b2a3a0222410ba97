import Foundation
import MiniTensor
import TestSupport
import Testing

/// RMSNorm in Double: `y = x / sqrt(mean(x²) + eps) · w`.
func referenceRMSNorm(_ x: [Double], _ w: [Double], rows: Int, dim: Int, eps: Double) -> [Double] {
  var y = [Double](repeating: 0, count: rows * dim)
  for r in 0..<rows {
    var meanSquare: Double = 0
    for i in 0..<dim { meanSquare += x[r * dim + i] * x[r * dim + i] }
    let s = 1 / (meanSquare / Double(dim) + eps).squareRoot()
    for i in 0..<dim { y[r * dim + i] = x[r * dim + i] * s * w[i] }
  }
  return y
}

@Suite("Kernels RMSNorm")
struct KernelRMSNormTests {
  static let shapes = [(1, 1), (1, 8), (3, 17), (17, 3), (2, 65), (65, 9), (130, 24)]

  @Test(arguments: shapes)
  func forwardMatchesDoubleReference(rows: Int, dim: Int) {
    let eps: Float = 1e-5
    let x = FloatBuffer(randomFloats(rows * dim, seed: 1, scale: 2))
    let w = FloatBuffer(randomFloats(dim, seed: 2))
    let y = FloatBuffer(zeros: rows * dim)
    let rstd = FloatBuffer(zeros: rows)
    Kernels.rmsNormForward(
      x: x.pointer, weight: w.pointer, output: y.pointer, rstd: rstd.pointer, rows: rows,
      dim: dim, eps: eps)
    let expected = referenceRMSNorm(x.doubles, w.doubles, rows: rows, dim: dim, eps: Double(eps))
    // Float output of a Double computation: a few ulps.
    expectClose(y.array, expected.map(Float.init), rtol: 2e-6, atol: 1e-6)
    for r in 0..<rows {
      var ms: Double = 0
      for i in 0..<dim { ms += x.doubles[r * dim + i] * x.doubles[r * dim + i] }
      let s = 1 / (ms / Double(dim) + Double(eps)).squareRoot()
      expectClose([rstd.array[r]], [Float(s)], rtol: 1e-6, atol: 0)
    }
  }

  @Test(arguments: shapes)
  func backwardMatchesCentralDifferences(rows: Int, dim: Int) {
    let eps: Float = 1e-5
    let x = FloatBuffer(randomFloats(rows * dim, seed: 3))
    let w = FloatBuffer(randomFloats(dim, seed: 4))
    let dyValues = randomFloats(rows * dim, seed: 5)
    let dy = FloatBuffer(dyValues)
    let y = FloatBuffer(zeros: rows * dim)
    let rstd = FloatBuffer(zeros: rows)
    Kernels.rmsNormForward(
      x: x.pointer, weight: w.pointer, output: y.pointer, rstd: rstd.pointer, rows: rows,
      dim: dim, eps: eps)
    let dx = FloatBuffer(zeros: rows * dim)
    let initial = randomFloats(dim, seed: 6)
    let dw = FloatBuffer(initial)  // accumulated onto existing values
    Kernels.rmsNormBackward(
      dy: dy.pointer, x: x.pointer, weight: w.pointer, rstd: rstd.pointer, dx: dx.pointer,
      dweight: dw.pointer, rows: rows, dim: dim)

    let xd = x.doubles
    let wd = w.doubles
    let numericX = centralDifference(
      of: {
        weightedSum(referenceRMSNorm($0, wd, rows: rows, dim: dim, eps: Double(eps)), dyValues)
      },
      at: xd)
    let numericW = centralDifference(
      of: {
        weightedSum(referenceRMSNorm(xd, $0, rows: rows, dim: dim, eps: Double(eps)), dyValues)
      },
      at: wd)
    // Float gradients against Double central differences (h = 1e-5, error ~1e-9): the Float
    // rounding of sums over up to 130 rows dominates.
    expectClose(dx.array, numericX, rtol: 1e-4, atol: 1e-5, "dx")
    expectClose(
      zip(dw.array, initial).map { $0 - $1 }, numericW, rtol: 1e-4, atol: 1e-4, "dweight")
  }

  @Test func backwardAllowsDxToAliasDy() {
    let (rows, dim) = (5, 19)
    let x = FloatBuffer(randomFloats(rows * dim, seed: 7))
    let w = FloatBuffer(randomFloats(dim, seed: 8))
    let dyValues = randomFloats(rows * dim, seed: 9)
    let rstd = FloatBuffer(zeros: rows)
    let y = FloatBuffer(zeros: rows * dim)
    Kernels.rmsNormForward(
      x: x.pointer, weight: w.pointer, output: y.pointer, rstd: rstd.pointer, rows: rows,
      dim: dim, eps: 1e-6)
    let separate = FloatBuffer(zeros: rows * dim)
    let dw1 = FloatBuffer(zeros: dim)
    let dy = FloatBuffer(dyValues)
    Kernels.rmsNormBackward(
      dy: dy.pointer, x: x.pointer, weight: w.pointer, rstd: rstd.pointer, dx: separate.pointer,
      dweight: dw1.pointer, rows: rows, dim: dim)
    let dw2 = FloatBuffer(zeros: dim)
    Kernels.rmsNormBackward(
      dy: dy.pointer, x: x.pointer, weight: w.pointer, rstd: rstd.pointer, dx: dy.pointer,
      dweight: dw2.pointer, rows: rows, dim: dim)
    #expect(dy.array == separate.array)
    #expect(dw1.array == dw2.array)
  }
}
