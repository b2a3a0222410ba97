import MiniAutograd
import MiniTensor
import TestSupport
import Testing

@Suite("matmul and linear")
struct MatmulGradientTests {
  static let flags = [(false, false), (false, true), (true, false), (true, true)]

  @Test(arguments: awkwardSizes)
  func matrixProductsMatchFiniteDifferencesForEveryLayout(n: Int) {
    for (transposeA, transposeB) in Self.flags {
      let (m, k) = (3, 5)
      let a = randomTensor(transposeA ? [k, m] : [m, k], seed: 50)
      let b = randomTensor(transposeB ? [n, k] : [k, n], seed: 51)
      expectGradientsMatch([a, b], "2-D tA=\(transposeA) tB=\(transposeB)") { _, v in
        matmul(v[0], v[1], transposeA: transposeA, transposeB: transposeB)
      }
      // Batch folded into M (b is a matrix) or batched with broadcasting.
      let batchedA = randomTensor(transposeA ? [2, k, n] : [2, n, k], seed: 52)
      expectGradientsMatch([batchedA, b], "folded tA=\(transposeA) tB=\(transposeB)") { _, v in
        matmul(v[0], v[1], transposeA: transposeA, transposeB: transposeB)
      }
      let batchedB = randomTensor(transposeB ? [3, 1, n, k] : [3, 1, k, n], seed: 53)
      expectGradientsMatch([batchedA, batchedB], "broadcast tA=\(transposeA) tB=\(transposeB)") {
        _, v in matmul(v[0], v[1], transposeA: transposeA, transposeB: transposeB)
      }
    }
  }

  @Test(arguments: awkwardSizes)
  func linearMatchesFiniteDifferences(n: Int) {
    let x = randomTensor([2, n, 5], seed: 54)
    let w = randomTensor([3, 5], seed: 55)
    let bias = randomTensor([3], seed: 56)
    expectGradientsMatch([x, w], "linear") { _, v in linear(v[0], v[1]) }
    expectGradientsMatch([x, w, bias], "linear with bias") { _, v in
      linear(v[0], v[1], bias: v[2])
    }
    // Input used twice: the second gradient is added onto the first with beta = 1.
    let square = randomTensor([n, 5], seed: 57)
    let wSquare = randomTensor([5, 5], seed: 58)
    expectGradientsMatch([square, wSquare], "linear chain") { _, v in
      linear(linear(v[0], v[1]) + v[0], v[1])
    }
  }

  @Test func linearEqualsMatmulWithTransposedWeight() {
    let x = randomTensor([2, 4, 6], seed: 59)
    let w = randomTensor([5, 6], seed: 60)
    let y = linear(Variable(x), Variable(w)).value
    expectClose(y, matmul(x, w, transposeB: true), rtol: 1e-5, atol: 1e-5)
  }

  @Test func weightGradientAccumulatesIntoTheArena() {
    var builder = ParameterArena.Builder()
    let weight = builder.declare("w", shape: [3, 4], initializer: .normal(standardDeviation: 1))
    let arena = builder.build(seed: 3)
    let x = randomTensor([2, 5, 4], seed: 61)

    // Reference: the same computation with the weight as a plain leaf.
    let reference = Tape()
    let leaf = reference.variable(weight.value)
    reference.backward(from: linear(reference.variable(x), leaf).tanh().sum())
    let expected = reference.gradient(of: leaf)!

    for pass in 1...2 {
      let tape = Tape()
      tape.backward(from: linear(Variable(x), weight.variable(on: tape)).tanh().sum())
      // Gradients add up across passes until zeroed.
      expectClose(weight.gradient, expected * Float(pass), rtol: 1e-5, atol: 1e-5)
    }
    arena.zeroGradients()
    #expect(weight.gradient.scalars.allSatisfy { $0 == 0 })
  }
}

@Suite("embedding")
struct EmbeddingTests {
  @Test(arguments: awkwardSizes)
  func embeddingMatchesFiniteDifferences(width: Int) {
    let table = randomTensor([5, width], seed: 70)
    let ids: [Int32] = [4, 0, 4, 2, 2, 4]
    expectGradientsMatch([table]) { _, v in embedding(v[0], ids: ids, shape: [2, 3]) }
  }

  @Test func lookupPicksRowsAndScatterAddsRepeats() {
    let table = Tensor([0, 1, 10, 11, 20, 21], shape: [3, 2])
    let tape = Tape()
    let t = tape.variable(table)
    let y = embedding(t, ids: [2, 0, 2], shape: [1, 3])
    #expect(y.shape == [1, 3, 2])
    #expect(y.value.scalars == [20, 21, 0, 1, 20, 21])
    tape.backward(from: y.sum())
    #expect(tape.gradient(of: t)?.scalars == [1, 1, 0, 0, 2, 2])
  }
}
