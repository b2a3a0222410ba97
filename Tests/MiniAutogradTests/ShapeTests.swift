import MiniAutograd
import MiniTensor
import TestSupport
import Testing

@Suite("shape operations")
struct ShapeTests {
  @Test(arguments: awkwardSizes)
  func viewsMatchFiniteDifferences(n: Int) {
    let a = randomTensor([2, n, 3], seed: 20)
    // Multiply by a fixed tensor after each view so a mis-routed gradient cannot hide.
    let weights = randomTensor([3 * n * 2], seed: 21)
    func weigh(_ v: Variable) -> Variable { v.reshaped([-1]) * Variable(weights) }
    expectGradientsMatch([a], "reshaped") { _, v in weigh(v[0].reshaped([n, 6])) }
    expectGradientsMatch([a], "transposed") { _, v in weigh(v[0].transposed(0, 2)) }
    expectGradientsMatch([a], "permuted") { _, v in weigh(v[0].permuted([1, 2, 0])) }
    expectGradientsMatch([a], "expanding") { _, v in weigh(v[0].expandingDimension(at: 1)) }
  }

  @Test(arguments: awkwardSizes)
  func slicesAndJoinsMatchFiniteDifferences(n: Int) {
    let a = randomTensor([2, n + 2, 3], seed: 22)
    let b = randomTensor([2, n, 3], seed: 23)
    expectGradientsMatch([a], "sliced axis 1") { _, v in v[0].sliced(1..<(n + 1), axis: 1) }
    expectGradientsMatch([a], "sliced axis -1") { _, v in v[0].sliced(1..<3, axis: -1) }
    expectGradientsMatch([a], "overlapping slices") { _, v in
      v[0].sliced(0..<n, axis: 1) * v[0].sliced(2..<(n + 2), axis: 1)
    }
    expectGradientsMatch([a, b], "concatenate") { _, v in
      Variable.concatenate([v[0], v[1].exp(), v[0]], axis: 1)
    }
    expectGradientsMatch([a], "split") { _, v in
      let parts = v[0].split(sizes: [1, n + 1], axis: 1)
      return parts[0] * parts[1].sum(axis: 1, keepingDimension: true)
    }
    let row = randomTensor([1, n, 1], seed: 24)
    expectGradientsMatch([row], "broadcast") { _, v in v[0].broadcast(to: [2, 3, n, 4]) }
  }

  @Test func viewValuesMatchTensorViews() {
    let a = randomTensor([2, 3, 4], seed: 25)
    let x = Variable(a)
    #expect(x.permuted([2, 0, 1]).value == a.permuted([2, 0, 1]))
    #expect(x.sliced(1..<3, axis: 2).value == a.sliced(1..<3, axis: 2))
    let joined = Variable.concatenate([x, x.sliced(0..<1, axis: 1)], axis: 1).value
    #expect(joined.shape == [2, 4, 4])
    #expect(joined.sliced(0..<3, axis: 1) == a)
    #expect(joined.sliced(3..<4, axis: 1) == a.sliced(0..<1, axis: 1))
  }
}

@Suite("reductions")
struct ReductionTests {
  @Test(arguments: awkwardSizes)
  func reductionsMatchFiniteDifferences(n: Int) {
    let a = randomTensor([n, 3, 2], seed: 30)
    expectGradientsMatch([a], "sum") { _, v in v[0].sum() }
    expectGradientsMatch([a], "mean") { _, v in v[0].mean() }
    for axis in [0, 1, -1] {
      expectGradientsMatch([a], "sum axis \(axis)") { _, v in v[0].sum(axis: axis) }
      expectGradientsMatch([a], "mean axis \(axis) kept") { _, v in
        v[0].mean(axis: axis, keepingDimension: true) * v[0]
      }
    }
  }

  @Test func reductionValues() {
    let x = Variable(Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3]))
    #expect(x.sum().value.item == 21)
    #expect(x.mean().value.item == 3.5)
    #expect(x.sum(axis: 0).value.scalars == [5, 7, 9])
    #expect(x.mean(axis: 1, keepingDimension: true).value == Tensor([2, 5], shape: [2, 1]))
  }
}

@Suite("softmax")
struct SoftmaxTests {
  @Test(arguments: awkwardSizes)
  func softmaxAndLogSoftmaxMatchFiniteDifferences(n: Int) {
    let a = randomTensor([2, n, 3], seed: 40, scale: 2)
    let wide = randomTensor([3, n], seed: 41, scale: 2)
    expectGradientsMatch([a], "softmax") { _, v in v[0].softmax() }
    expectGradientsMatch([wide], "softmax wide") { _, v in v[0].softmax() }
    expectGradientsMatch([a], "logSoftmax") { _, v in v[0].logSoftmax() }
    expectGradientsMatch([wide], "logSoftmax wide") { _, v in v[0].logSoftmax() }
  }

  @Test func softmaxRowsSumToOneAndResistOverflow() {
    let x = Variable(Tensor([1000, 1001, 1002, -5, 0, 5], shape: [2, 3]))
    let y = x.softmax().value
    expectClose(y.sum(axis: 1).scalars, [1, 1], rtol: 0, atol: 1e-6)
    let logY = x.logSoftmax().value
    expectClose(logY.scalars, y.log().scalars, rtol: 1e-5, atol: 1e-5)
    #expect(logY.scalars.allSatisfy { $0.isFinite })
  }
}
