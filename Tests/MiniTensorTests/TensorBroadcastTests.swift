import Foundation
import MiniTensor
import TestSupport
import Testing

@Suite("Tensor element-wise and broadcasting")
struct TensorBroadcastTests {
  @Test func broadcastShapesFollowNumPyRules() {
    #expect(Tensor.broadcastShape([2, 1, 4], [3, 1]) == [2, 3, 4])
    #expect(Tensor.broadcastShape([], [5]) == [5])
    #expect(Tensor.broadcastShape([1], [2, 3]) == [2, 3])
  }

  @Test func binaryOpsBroadcastRowsColumnsAndScalars() {
    let a = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
    let row = Tensor([10, 20, 30])
    let column = Tensor([100, 200], shape: [2, 1])
    #expect((a + row).scalars == [11, 22, 33, 14, 25, 36])
    #expect((a * column).scalars == [100, 200, 300, 800, 1000, 1200])
    #expect((column - row).shape == [2, 3])
    #expect((column - row).scalars == [90, 80, 70, 190, 180, 170])
    #expect((a / Tensor(2)).scalars == [0.5, 1, 1.5, 2, 2.5, 3])
    #expect((2 * a - 1).scalars == [1, 3, 5, 7, 9, 11])
  }

  @Test func stridedOperandsGiveTheSameResultAsContiguousOnes() {
    var rng = PhiloxRNG(seed: 3)
    let a = Tensor.randomNormal([4, 5], using: &rng)
    let b = Tensor.randomNormal([5, 4], using: &rng).transposed()  // strided [4, 5]
    let expected = zip(a.scalars, b.contiguous().scalars).map { $0 * $1 }
    #expect((a * b).scalars == expected)
    #expect((b * a).scalars == expected)
  }

  @Test func inPlaceAdditionAndUnaryFunctions() {
    var a = Tensor([1, 2, 3, 4], shape: [2, 2])
    let shared = a
    a += Tensor([1, 1])
    #expect(a.scalars == [2, 3, 4, 5])
    #expect(shared.scalars == [1, 2, 3, 4])  // copy-on-write
    let same = a
    a += same
    #expect(a.scalars == [4, 6, 8, 10])
    let x = Tensor([-2, -0.5, 0, 0.5, 2])
    expectClose(x.silu().scalars, x.scalars.map { $0 / (1 + Foundation.exp(-$0)) })
    expectClose(x.sigmoid().scalars, x.scalars.map { 1 / (1 + Foundation.exp(-$0)) })
    #expect(x.relu().scalars == [0, 0, 0, 0.5, 2])
    #expect(x.clamped(to: -1...1).scalars == [-1, -0.5, 0, 0.5, 1])
    #expect(Tensor.maximum(x, Tensor(0.25)).scalars == [0.25, 0.25, 0.25, 0.5, 2])
  }
}
