import MiniTensor
import TestSupport
import Testing

@Suite("Tensor reductions")
struct TensorReductionTests {
  let t = Tensor([1, 5, 3, 4, 2, 6, 9, 8, 7, 0, -1, 2], shape: [2, 3, 2])

  @Test func sumsAndMeansAlongEachAxis() {
    #expect(t.sum() == 46)
    #expect(t.sum(axis: 0).scalars == [10, 13, 10, 4, 1, 8])
    #expect(t.sum(axis: 1).scalars == [6, 15, 15, 10])
    #expect(t.sum(axis: -1, keepingDimension: true).shape == [2, 3, 1])
    #expect(t.sum(axis: -1).scalars == [6, 7, 8, 17, 7, 1])
    expectClose(t.mean(axis: 1).scalars, [2, 5, 5, 10 / 3])
    expectClose([t.mean()], [46 / 12])
  }

  @Test func maxAndArgmax() {
    #expect(t.max() == 9)
    #expect(t.argmax() == 6)
    #expect(t.max(axis: 1).scalars == [3, 6, 9, 8])
    #expect(t.argmax(axis: 1).scalars == [1, 2, 0, 0])
    // First index wins on ties.
    #expect(Tensor([2, 7, 7, 1]).argmax(axis: 0).scalars == [1])
    #expect(Tensor([2, 7, 7, 1]).argmax() == 1)
  }

  @Test func reductionsOfStridedViews() {
    let view = t.transposed(0, 2)  // [2, 3, 2] → [2, 3, 2] with axes 0 and 2 swapped
    #expect(view.sum(axis: 0).scalars == t.sum(axis: 2).transposed().scalars)
    #expect(view.sum() == t.sum())
  }
}
