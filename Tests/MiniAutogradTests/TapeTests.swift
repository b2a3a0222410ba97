import MiniAutograd
import MiniTensor
import TestSupport
import Testing

/// Notes when it is deallocated, to observe what a tape still holds.
final class Sentinel {}

@Suite("tape")
struct TapeTests {
  @Test(arguments: [1, 8, 40])
  func intermediateGradientsAreFreedAsSoonAsConsumed(depth: Int) {
    let tape = Tape()
    let x = tape.variable(randomTensor([4, 16], seed: 1))
    var h = x
    for _ in 0..<depth {
      h = h + (h * 0.5).tanh()  // a residual block: h feeds two consumers
    }
    tape.backward(from: h.sum())
    // Keeping every intermediate gradient would hold 3·depth + 1 buffers at the end.
    #expect(tape.peakGradientBufferCount <= 3, "peak \(tape.peakGradientBufferCount)")
    #expect(tape.peakGradientByteCount <= 3 * 4 * 16 * MemoryLayout<Float>.stride)
    #expect(tape.liveGradientBufferCount == 0)
    #expect(tape.gradient(of: x)?.shape == [4, 16])
  }

  @Test func closuresAndTheirSavedValuesAreReleasedAfterTheyRun() {
    weak var saved: Sentinel?
    let tape = Tape()
    let x = tape.variable(Tensor([1, 2], shape: [2]))
    do {
      let sentinel = Sentinel()
      saved = sentinel
      let y = Variable.operation(inputs: [x], value: x.value * 3) { dy in
        withExtendedLifetime(sentinel) { [dy * 3] }
      }
      #expect(saved != nil)
      tape.backward(from: y.sum())
    }
    #expect(saved == nil)
    #expect(tape.gradient(of: x)?.scalars == [3, 3])
  }

  @Test func untrackedInputsRecordNothing() {
    let tape = Tape()
    let a = Variable(randomTensor([3, 3], seed: 2))
    let y = linear(a, a).softmax().sum(axis: 0) + a.sum()
    #expect(!y.isTracked)
    #expect(tape.variableCount == 0)
    let tracked = tape.variable(Tensor.ones([3]))
    #expect((a * tracked).isTracked)
    #expect(!(a * tracked).detached().isTracked)
  }

  @Test func seededBackwardFromANonScalarOutput() {
    let tape = Tape()
    let x = tape.variable(Tensor([1, 2, 3], shape: [3]))
    let y = x * x
    tape.backward(from: y, seed: Tensor([1, 0, -1], shape: [3]))
    #expect(tape.gradient(of: x)?.scalars == [2, 0, -6])
  }

  @Test func unreachedLeavesHaveNoGradient() {
    let tape = Tape()
    let used = tape.variable(Tensor([1, 2], shape: [2]))
    let unused = tape.variable(Tensor([3, 4], shape: [2]))
    _ = unused.exp()
    tape.backward(from: used.sum())
    #expect(tape.gradient(of: used)?.scalars == [1, 1])
    #expect(tape.gradient(of: unused) == nil)
  }

  @Test func stoppedGradientsDoNotFlowThroughDetached() {
    let tape = Tape()
    let x = tape.variable(Tensor([2], shape: [1]))
    tape.backward(from: (x * x.detached()).sum())
    #expect(tape.gradient(of: x)?.scalars == [2])
  }
}

@Suite("gradient checker")
struct GradientCheckTests {
  /// `y = x²` with a backward that is wrong by `factor`.
  static func square(_ x: Variable, backwardFactor factor: Float) -> Variable {
    let value = x.value * x.value
    let saved = x.value
    return Variable.operation(inputs: [x], value: value) { dy in [dy * saved * (2 * factor)] }
  }

  @Test func acceptsACorrectCustomOperation() {
    let x = randomTensor([3, 5], seed: 3)
    let report = GradientCheck.check(inputs: [x]) { _, v in Self.square(v[0], backwardFactor: 1) }
    #expect(report.passed, "\(report)")
    #expect(report.checkedElements == 15)
    #expect(report.maxAbsoluteError < 1e-3)
  }

  @Test func rejectsAWrongBackwardAndNamesTheWorstElement() {
    let x = Tensor([0.1, -2, 0.5], shape: [3])
    let report = GradientCheck.check(inputs: [x]) { _, v in
      Self.square(v[0], backwardFactor: 1.1)
    }
    #expect(!report.passed)
    #expect(report.failedElements == 3)
    #expect(report.worst?.input == 0)
    #expect(report.worst?.index == 1)  // the largest gradient has the largest error
    #expect(report.maxRelativeError > 0.05)
  }

  @Test func samplesLargeInputs() {
    let big = randomTensor([40, 30], seed: 4)
    let small = randomTensor([30], seed: 5)
    let report = GradientCheck.check(inputs: [big, small], maxElementsPerInput: 50) { _, v in
      (v[0] * v[1]).tanh()
    }
    #expect(report.passed, "\(report)")
    #expect(report.checkedElements == 80)
  }

  @Test func missingGradientsCountAsZero() {
    // The gradient to the second input is wrongly dropped: its elements must fail.
    let report = GradientCheck.check(inputs: [Tensor([1, 2], shape: [2]), Tensor([3], shape: [1])])
    { _, v in
      let a = v[0]
      let b = v[1]
      return Variable.operation(inputs: [a, b], value: a.value * b.value) { dy in
        [dy * b.value, nil]
      }
    }
    #expect(!report.passed)
    #expect(report.worst?.input == 1)
  }
}
