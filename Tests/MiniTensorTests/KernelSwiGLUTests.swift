import Foundation
import MiniTensor
import TestSupport
import Testing

func referenceSwiGLU(gate: [Double], up: [Double]) -> [Double] {
  zip(gate, up).map { g, u in g / (1 + Foundation.exp(-g)) * u }
}

@Suite("Kernels SwiGLU")
struct KernelSwiGLUTests {
  @Test(arguments: [1, 3, 8, 17, 65, 1000])
  func forwardMatchesDoubleReference(count: Int) {
    // Gates up to ±~20 reach both tails of the sigmoid.
    let gate = randomFloats(count, seed: 31, scale: 6)
    let up = randomFloats(count, seed: 32)
    let out = FloatBuffer(zeros: count)
    let g = FloatBuffer(gate)
    let u = FloatBuffer(up)
    Kernels.swigluForward(gate: g.pointer, up: u.pointer, output: out.pointer, count: count)
    let expected = referenceSwiGLU(gate: gate.map(Double.init), up: up.map(Double.init))
    // Vectorised exp (~1e-7) plus a division and two products: a few ulps.
    expectClose(out.array, expected.map(Float.init), rtol: 1e-6, atol: 1e-7)
  }

  @Test(arguments: [1, 3, 8, 17, 65])
  func backwardMatchesCentralDifferences(count: Int) {
    let gate = randomFloats(count, seed: 33, scale: 3)
    let up = randomFloats(count, seed: 34)
    let w = randomFloats(count, seed: 35)
    let dGate = FloatBuffer(zeros: count)
    let dUp = FloatBuffer(zeros: count)
    let dh = FloatBuffer(w)
    let g = FloatBuffer(gate)
    let u = FloatBuffer(up)
    Kernels.swigluBackward(
      dh: dh.pointer, gate: g.pointer, up: u.pointer, dGate: dGate.pointer, dUp: dUp.pointer,
      count: count)
    let gd = gate.map(Double.init)
    let ud = up.map(Double.init)
    let numericGate = centralDifference(
      of: { weightedSum(referenceSwiGLU(gate: $0, up: ud), w) }, at: gd)
    let numericUp = centralDifference(
      of: { weightedSum(referenceSwiGLU(gate: gd, up: $0), w) }, at: ud)
    // Element-wise Float formulas against Double differences (error ~1e-9).
    expectClose(dGate.array, numericGate, rtol: 1e-5, atol: 1e-6, "dGate")
    expectClose(dUp.array, numericUp, rtol: 1e-5, atol: 1e-6, "dUp")
  }

  @Test func extremeGatesStayFinite() {
    let gate: [Float] = [-200, -90, -30, 0, 30, 90, 200]
    let g = FloatBuffer(gate)
    let u = FloatBuffer(repeating: 2, count: gate.count)
    let out = FloatBuffer(zeros: gate.count)
    let dGate = FloatBuffer(zeros: gate.count)
    let dUp = FloatBuffer(zeros: gate.count)
    let dh = FloatBuffer(repeating: 1, count: gate.count)
    Kernels.swigluForward(gate: g.pointer, up: u.pointer, output: out.pointer, count: gate.count)
    Kernels.swigluBackward(
      dh: dh.pointer, gate: g.pointer, up: u.pointer, dGate: dGate.pointer, dUp: dUp.pointer,
      count: gate.count)
    #expect(out.array.allSatisfy { $0.isFinite })
    #expect(dGate.array.allSatisfy { $0.isFinite } && dUp.array.allSatisfy { $0.isFinite })
    #expect(out.array[6] == 400 && out.array[0] == 0)
    #expect(dGate.array[6] == 2 && dGate.array[0] == 0)
  }
}
