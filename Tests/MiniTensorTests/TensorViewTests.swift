import MiniTensor
import TestSupport
import Testing

@Suite("Tensor views")
struct TensorViewTests {
  let t = Tensor((0..<24).map(Float.init), shape: [2, 3, 4])

  @Test func reshapeSharesLayoutAndInfersOneDimension() {
    let r = t.reshaped([4, -1])
    #expect(r.shape == [4, 6])
    #expect(r.scalars == t.scalars)
    #expect(r.isContiguous)
    // Reshaping a strided view copies into row-major order of the view.
    let transposed = t.transposed()  // [2, 4, 3]
    #expect(!transposed.isContiguous)
    #expect(transposed.reshaped([8, 3]).scalars == transposed.scalars)
  }

  @Test func transposeAndPermuteReorderElements() {
    let tr = t.transposed(0, 2)  // [4, 3, 2]
    #expect(tr.shape == [4, 3, 2])
    #expect(tr[1, 2, 0] == t[0, 2, 1])
    let p = t.permuted([1, 2, 0])  // [3, 4, 2]
    #expect(p.shape == [3, 4, 2])
    for i in 0..<2 {
      for j in 0..<3 {
        for k in 0..<4 { #expect(p[j, k, i] == t[i, j, k]) }
      }
    }
    #expect(p.contiguous().isContiguous)
    #expect(p.contiguous().scalars == p.scalars)
  }

  @Test func slicesAndRowsAreViewsAndWritesCopyOnWrite() {
    let s = t.sliced(1..<3, axis: 1)  // [2, 2, 4]
    #expect(s.shape == [2, 2, 4])
    #expect(s.scalars == [4, 5, 6, 7, 8, 9, 10, 11, 16, 17, 18, 19, 20, 21, 22, 23])
    let row = t[row: 1]
    #expect(row.shape == [3, 4] && row[0, 0] == 12)
    var copy = s
    copy[0, 0, 0] = -1
    #expect(copy[0, 0, 0] == -1)
    #expect(t[0, 1, 0] == 4 && s[0, 0, 0] == 4)  // the original and the view are untouched
    let columns = t.sliced(1..<3, axis: -1)
    #expect(columns.shape == [2, 3, 2] && columns[1, 2, 1] == 22)
  }

  @Test func expandAndBroadcastUseZeroStrides() {
    let v = Tensor([1, 2, 3])
    let e = v.expandingDimension(at: 0)
    #expect(e.shape == [1, 3])
    let b = e.broadcast(to: [4, 3])
    #expect(b.shape == [4, 3] && !b.isContiguous)
    #expect(b.scalars == [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3])
    let column = v.expandingDimension(at: -1).broadcast(to: [2, 3, 2])
    #expect(column.scalars == [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3])
  }

  @Test func emptyAndScalarTensors() {
    // Empty tensors of any shape are readable (their strides are irrelevant).
    #expect(Tensor.zeros([3, 0]).scalars.isEmpty)
    #expect(Tensor.zeros([0, 5]).transposed().contiguous().shape == [5, 0])
    #expect(Tensor([], shape: [0]).count == 0)
    let s = Tensor(3.5)
    #expect(s.rank == 0 && s.count == 1 && s.item == 3.5)
    #expect(s.reshaped([1, 1]).scalars == [3.5])
  }
}
