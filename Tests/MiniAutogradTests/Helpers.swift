import MiniAutograd
import MiniTensor
import Testing

/// Awkward sizes: 1, odd, and not multiples of a SIMD width.
let awkwardSizes = [1, 3, 5, 17]

/// Normal samples of `shape` from a generator seeded with `seed`.
func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
  var rng = PhiloxRNG(seed: seed)
  return Tensor.randomNormal(shape, standardDeviation: scale, using: &rng)
}

/// Uniform samples of `shape` in `range`.
func uniformTensor(_ shape: [Int], in range: Range<Float>, seed: UInt64) -> Tensor {
  var rng = PhiloxRNG(seed: seed)
  return Tensor.randomUniform(shape, in: range, using: &rng)
}

/// Records an issue unless the tape's gradients of `function` match central differences.
func expectGradientsMatch(
  _ inputs: [Tensor], absoluteTolerance: Float = 5e-4, relativeTolerance: Float = 2e-3,
  _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation,
  function: (Tape, [Variable]) -> Variable
) {
  let report = GradientCheck.check(
    inputs: inputs, absoluteTolerance: absoluteTolerance, relativeTolerance: relativeTolerance,
    function: function)
  #expect(
    report.passed, "\(report) \(comment.map { "— \($0)" } ?? "")", sourceLocation: sourceLocation)
}
