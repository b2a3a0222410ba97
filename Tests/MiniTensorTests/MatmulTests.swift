import MiniTensor
import TestSupport
import Testing

/// Naive triple loop in Double: the reference for every matmul layout.
func naiveMatmul(_ a: [Float], _ b: [Float], m: Int, n: Int, k: Int) -> [Float] {
  var c = [Float](repeating: 0, count: m * n)
  for i in 0..<m {
    for j in 0..<n {
      var total: Double = 0
      for p in 0..<k { total += Double(a[i * k + p]) * Double(b[p * n + j]) }
      c[i * n + j] = Float(total)
    }
  }
  return c
}

@Suite("matmul")
struct MatmulTests {
  static let sizes = [1, 3, 17, 65]

  @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
  func allLayoutsMatchNaiveLoop(transposeA: Bool, transposeB: Bool) {
    var rng = PhiloxRNG(seed: 7)
    for m in Self.sizes {
      for n in Self.sizes {
        for k in Self.sizes {
          let a = Tensor.randomNormal([m, k], using: &rng)
          let b = Tensor.randomNormal([k, n], using: &rng)
          // Store the transposed layouts physically, then ask for the transpose by flag.
          let storedA = transposeA ? a.transposed().contiguousCopy() : a
          let storedB = transposeB ? b.transposed().contiguousCopy() : b
          let c = matmul(storedA, storedB, transposeA: transposeA, transposeB: transposeB)
          #expect(c.shape == [m, n])
          expectClose(
            c.scalars, naiveMatmul(a.scalars, b.scalars, m: m, n: n, k: k), rtol: 1e-4,
            atol: 1e-4, "m=\(m) n=\(n) k=\(k)")
        }
      }
    }
  }

  @Test func batchFoldsIntoMAndBroadcasts() {
    var rng = PhiloxRNG(seed: 8)
    let a = Tensor.randomNormal([2, 3, 5, 4], using: &rng)
    let w = Tensor.randomNormal([4, 6], using: &rng)
    let folded = matmul(a, w)
    #expect(folded.shape == [2, 3, 5, 6])
    let b = Tensor.randomNormal([3, 4, 6], using: &rng)
    let batched = matmul(a, b)
    #expect(batched.shape == [2, 3, 5, 6])
    for i in 0..<2 {
      for j in 0..<3 {
        let slice = a[row: i][row: j]
        expectClose(
          folded[row: i][row: j].scalars,
          naiveMatmul(slice.scalars, w.scalars, m: 5, n: 6, k: 4), rtol: 1e-4, atol: 1e-5)
        expectClose(
          batched[row: i][row: j].scalars,
          naiveMatmul(slice.scalars, b[row: j].scalars, m: 5, n: 6, k: 4), rtol: 1e-4, atol: 1e-5)
      }
    }
  }

  @Test func stridedViewsAreCopiedOrFlagged() {
    var rng = PhiloxRNG(seed: 9)
    let big = Tensor.randomNormal([8, 10], using: &rng)
    let a = big.sliced(1..<6, axis: 0).sliced(2..<9, axis: 1)  // [5, 7], row stride 10
    let b = Tensor.randomNormal([3, 7], using: &rng).transposed()  // [7, 3] by flag
    let c = matmul(a, b)
    expectClose(
      c.scalars, naiveMatmul(a.scalars, b.scalars, m: 5, n: 3, k: 7), rtol: 1e-4, atol: 1e-5)
    var into = Tensor.zeros([5, 3])
    matmul(a, b, into: &into)
    matmul(a, b, into: &into, accumulate: true)
    expectClose(into.scalars, (c * 2).scalars, rtol: 1e-5, atol: 1e-5)
  }

  @Test func vectorsArePromoted() {
    let m = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
    let v = Tensor([1, 0, -1])
    #expect(matmul(m, v).scalars == [-2, -2])
    #expect(matmul(Tensor([1, 1]), m).scalars == [5, 7, 9])
  }
}

@Suite("GEMM profile")
struct GEMMProfileTests {
  /// Shapes no other test uses, since the profile is process-wide and tests run in parallel.
  @Test func recordsEachProductByShapeAndLayoutOnlyWhileRecording() {
    var rng = PhiloxRNG(seed: 11)
    let a = Tensor.randomNormal([37, 43], using: &rng)
    let b = Tensor.randomNormal([43, 41], using: &rng)
    let w = Tensor.randomNormal([29, 43], using: &rng)
    _ = matmul(a, b)  // not recorded
    GEMMProfile.begin()
    _ = matmul(a, b)
    _ = matmul(a, b)
    _ = matmul(a, w, transposeB: true)
    let entries = GEMMProfile.end()
    _ = matmul(a, b)  // not recorded
    let nn = entries.filter { ($0.layout, $0.m, $0.n, $0.k) == ("NN", 37, 41, 43) }
    let nt = entries.filter { ($0.layout, $0.m, $0.n, $0.k) == ("NT", 37, 29, 43) }
    #expect(nn.map(\.calls) == [2])
    #expect(nt.map(\.calls) == [1])
    #expect(nn.first.map { $0.flops == 2 * 2 * 37 * 41 * 43 } == true)
    #expect(nn.first.map { $0.seconds > 0 && $0.gflops > 0 } == true)
    #expect(entries == entries.sorted { $0.seconds > $1.seconds })
  }
}
