import MiniTensor
import TestSupport
import Testing

@Suite("Tensor concatenate, split, gather, scatter")
struct TensorIndexingTests {
  @Test func concatenateAlongEachAxisAndSplitBack() {
    let a = Tensor((0..<6).map(Float.init), shape: [2, 3])
    let b = Tensor((10..<14).map(Float.init), shape: [2, 2])
    let c = Tensor.concatenate([a, b], axis: 1)
    #expect(c.shape == [2, 5])
    #expect(c.scalars == [0, 1, 2, 10, 11, 3, 4, 5, 12, 13])
    let parts = c.split(sizes: [3, 2], axis: 1)
    #expect(parts[0] == a && parts[1] == b)
    let rows = Tensor.concatenate([a, a.transposed().contiguous().transposed()], axis: 0)
    #expect(rows.shape == [4, 3])
    #expect(rows.scalars == a.scalars + a.scalars)
    // A strided input is read in its logical order.
    let strided = Tensor.concatenate([a.transposed(), Tensor.zeros([3, 1])], axis: -1)
    #expect(strided.scalars == [0, 3, 0, 1, 4, 0, 2, 5, 0])
  }

  @Test func gatherRowsIsTheEmbeddingLookup() {
    let table = Tensor((0..<12).map(Float.init), shape: [4, 3])
    let g = table.gatherRows([3, 0, 3, 1], indexShape: [2, 2])
    #expect(g.shape == [2, 2, 3])
    #expect(g.scalars == [9, 10, 11, 0, 1, 2, 9, 10, 11, 3, 4, 5])
  }

  @Test func scatterAddRowsAccumulatesRepeatedIndices() {
    var grad = Tensor.zeros([4, 2])
    let shared = grad
    let source = Tensor([1, 2, 3, 4, 5, 6], shape: [3, 2])
    grad.scatterAddRows([2, 0, 2], from: source)
    #expect(grad.scalars == [3, 4, 0, 0, 6, 8, 0, 0])
    #expect(shared.scalars == [Float](repeating: 0, count: 8))
  }
}
