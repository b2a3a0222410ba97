import MiniAutograd
import MiniTensor
import Testing

/// The op of Docs/WritingAnOp.md, exactly as written there.
func cube(_ x: Variable) -> Variable {
  let input = x.value  // capture tensors, never the Variable (it holds the tape)
  return Variable.operation(inputs: [x], value: input * input * input) { dy in
    [dy * 3 * input * input]
  }
}

@Suite("documentation examples")
struct DocumentationExampleTests {
  @Test func writingAnOpGuideChecksOut() {
    var rng = PhiloxRNG(seed: 1)
    let report = GradientCheck.check(inputs: [Tensor.randomNormal([3, 5], using: &rng)]) {
      tape, inputs in
      cube(inputs[0]).sum()
    }
    #expect(report.passed, "\(report)")
    #expect(report.checkedElements == 15)
  }

  @Test func aWrongBackwardIsCaught() {
    var rng = PhiloxRNG(seed: 2)
    let report = GradientCheck.check(inputs: [Tensor.randomNormal([4], using: &rng)]) {
      tape, inputs in
      let input = inputs[0].value
      return Variable.operation(inputs: [inputs[0]], value: input * input * input) { dy in
        [dy * 2 * input * input]
      }.sum()
    }
    #expect(!report.passed)
  }
}
