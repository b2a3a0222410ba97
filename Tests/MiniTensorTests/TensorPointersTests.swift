import MiniTensor
import Testing

@Suite("withUnsafePointers")
struct TensorPointersTests {
  struct Failure: Error {}

  @Test func lendsEachSourceInRowMajorOrder() {
    let a = Tensor((0..<6).map(Float.init), shape: [2, 3])
    let strided = a.transposed()  // [3, 2], not contiguous
    let ids: [Int32] = [7, -1, 4]
    let (fromA, fromStrided, fromIds) = withUnsafePointers(a, strided, ids) { a, s, ids in
      ((0..<6).map { a[$0] }, (0..<6).map { s[$0] }, (0..<3).map { ids[$0] })
    }
    #expect(fromA == a.scalars)
    #expect(fromStrided == [0, 3, 1, 4, 2, 5])
    #expect(fromIds == ids)
  }

  @Test func takesManySourcesInTheirOrder() {
    let t = (0..<6).map { Tensor(Float($0 + 1)) }
    let firsts: [Float] = withUnsafePointers(t[0], t[1], t[2], t[3], t[4], t[5]) {
      p0, p1, p2, p3, p4, p5 in
      [p0[0], p1[0], p2[0], p3[0], p4[0], p5[0]]
    }
    #expect(firsts == [1, 2, 3, 4, 5, 6])
  }

  @Test func emptySourcesLendNonNullPointers() {
    let empty = Tensor.zeros([0, 4])
    let none: [Float] = []
    let full = Tensor([2, 3], shape: [2])
    let sum = withUnsafePointers(empty, none, full) { _, _, full in full[0] + full[1] }
    #expect(sum == 5)
  }

  @Test func rethrowsTheBodysError() {
    #expect(throws: Failure.self) {
      try withUnsafePointers(Tensor(1), [Int32(2)]) { _, _ in throw Failure() }
    }
  }
}
