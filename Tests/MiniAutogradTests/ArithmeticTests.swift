import MiniAutograd
import MiniTensor
import TestSupport
import Testing

@Suite("element-wise arithmetic")
struct ArithmeticTests {
  /// Shape pairs exercising equal shapes, trailing/leading broadcast and size-1 stretching.
  static func shapePairs(_ n: Int) -> [([Int], [Int])] {
    [([n, 3], [n, 3]), ([n, 3], [3]), ([2, 1, n], [n, 1]), ([1, n], [4, 1]), ([n, 2], [])]
  }

  @Test(arguments: awkwardSizes)
  func binaryOperationsMatchFiniteDifferences(n: Int) {
    for (shapeA, shapeB) in Self.shapePairs(n) {
      let a = randomTensor(shapeA, seed: 1)
      let b = uniformTensor(shapeB, in: 0.5..<2, seed: 2)
      let label = "\(shapeA) ∘ \(shapeB)"
      expectGradientsMatch([a, b], "+ \(label)") { _, v in v[0] + v[1] }
      expectGradientsMatch([a, b], "- \(label)") { _, v in v[0] - v[1] }
      expectGradientsMatch([a, b], "* \(label)") { _, v in v[0] * v[1] }
      expectGradientsMatch([a, b], "/ \(label)") { _, v in v[0] / v[1] }
      expectGradientsMatch([b, a], "/ reversed \(label)") { _, v in v[1] / v[0] }
    }
  }

  @Test(arguments: awkwardSizes)
  func scalarOperationsMatchFiniteDifferences(n: Int) {
    let a = randomTensor([n, 3], seed: 3)
    expectGradientsMatch([a]) { _, v in v[0] + 2 }
    expectGradientsMatch([a]) { _, v in 2 - v[0] }
    expectGradientsMatch([a]) { _, v in v[0] - 0.5 }
    expectGradientsMatch([a]) { _, v in 3 * v[0] }
    expectGradientsMatch([a]) { _, v in v[0] / 4 }
    expectGradientsMatch([a]) { _, v in -v[0] }
  }

  @Test func valuesMatchTensorArithmetic() {
    let a = randomTensor([3, 4], seed: 4)
    let b = uniformTensor([4], in: 1..<2, seed: 5)
    let tape = Tape()
    let (x, y) = (tape.variable(a), Variable(b))
    #expect((x + y).value == a + b)
    #expect((x - y).value == a - b)
    #expect((x * y).value == a * b)
    #expect((x / y).value == a / b)
    #expect((x * 2).value == a * 2)
  }

  @Test func reusedVariableAccumulatesBothPaths() {
    let a = Tensor([1, -2, 3], shape: [3])
    let tape = Tape()
    let x = tape.variable(a)
    tape.backward(from: (x * x + x).sum())
    // d/dx (x² + x) = 2x + 1
    #expect(tape.gradient(of: x)?.scalars == [3, -3, 7])
  }
}

@Suite("element-wise functions")
struct MathTests {
  @Test(arguments: awkwardSizes)
  func unaryFunctionsMatchFiniteDifferences(n: Int) {
    let a = randomTensor([n, 3], seed: 10)
    let positive = uniformTensor([n, 3], in: 0.5..<2, seed: 11)
    expectGradientsMatch([a], "exp") { _, v in v[0].exp() }
    expectGradientsMatch([a], "sigmoid") { _, v in v[0].sigmoid() }
    expectGradientsMatch([a], "tanh") { _, v in v[0].tanh() }
    expectGradientsMatch([a], "silu") { _, v in v[0].silu() }
    expectGradientsMatch([a], "squared") { _, v in v[0].squared() }
    expectGradientsMatch([a], "pow 3") { _, v in v[0].pow(3) }
    expectGradientsMatch([positive], "log") { _, v in v[0].log() }
    expectGradientsMatch([positive], "sqrt") { _, v in v[0].sqrt() }
    expectGradientsMatch([positive], "rsqrt") { _, v in v[0].rsqrt() }
    expectGradientsMatch([positive], "pow 1.5") { _, v in v[0].pow(1.5) }
    // relu away from its kink
    let awayFromZero = positive * Tensor([1, -1, 1], shape: [3])
    expectGradientsMatch([awayFromZero], "relu") { _, v in v[0].relu() }
  }

  @Test func valuesMatchTensorFunctions() {
    let a = randomTensor([4, 5], seed: 12)
    let x = Variable(a)
    #expect(x.exp().value == a.exp())
    #expect(x.silu().value == a.silu())
    #expect(x.sigmoid().value == a.sigmoid())
    #expect(x.tanh().value == a.tanh())
  }
}
