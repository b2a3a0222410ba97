import Foundation
import MiniTensor
import Testing

/// Records an issue when two arrays differ anywhere by more than `atol + rtol·|expected|`.
public func expectClose(
  _ actual: [Float], _ expected: [Float], rtol: Float = 1e-5, atol: Float = 1e-6,
  _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual.count == expected.count else {
    Issue.record(
      "count \(actual.count) ≠ \(expected.count) \(comment.map { "\($0)" } ?? "")",
      sourceLocation: sourceLocation)
    return
  }
  var worst = 0
  var worstExcess: Float = -1
  for i in actual.indices {
    let tolerance = atol + rtol * abs(expected[i])
    let excess = abs(actual[i] - expected[i]) - tolerance
    if !(excess <= 0) && (excess > worstExcess || excess.isNaN) {
      worst = i
      worstExcess = excess.isNaN ? .infinity : excess
    }
  }
  if worstExcess > 0 {
    let note = comment.map { " — \($0)" } ?? ""
    Issue.record(
      "element \(worst): \(actual[worst]) vs expected \(expected[worst]) (rtol \(rtol), atol \(atol))\(note)",
      sourceLocation: sourceLocation)
  }
}

/// Records an issue unless two tensors have the same shape and close elements.
public func expectClose(
  _ actual: Tensor, _ expected: Tensor, rtol: Float = 1e-5, atol: Float = 1e-6,
  _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.shape == expected.shape, comment, sourceLocation: sourceLocation)
  if actual.shape == expected.shape {
    expectClose(
      actual.scalars, expected.scalars, rtol: rtol, atol: atol, comment,
      sourceLocation: sourceLocation)
  }
}

/// Central-difference derivative of a scalar function of `inputs` with respect to each element,
/// evaluated in `Double` around the `Float` inputs with step `h`.
public func numericalGradient(
  of function: ([Float]) -> Double, at inputs: [Float], step h: Float = 1e-2
) -> [Float] {
  var x = inputs
  var gradient = [Float](repeating: 0, count: inputs.count)
  for i in inputs.indices {
    let original = x[i]
    x[i] = original + h
    let plus = function(x)
    x[i] = original - h
    let minus = function(x)
    x[i] = original
    gradient[i] = Float((plus - minus) / (2 * Double(h)))
  }
  return gradient
}

/// The path of `../shared/<relative>` beside the package root, or `nil` when it is absent.
public func sharedPath(_ relative: String, file: String = #filePath) -> String? {
  var directory = URL(fileURLWithPath: file).deletingLastPathComponent()
  while directory.path != "/" {
    if FileManager.default.fileExists(
      atPath: directory.appendingPathComponent("Package.swift").path)
    {
      let shared = directory.deletingLastPathComponent().appendingPathComponent("shared")
        .appendingPathComponent(relative)
      return FileManager.default.fileExists(atPath: shared.path) ? shared.path : nil
    }
    directory = directory.deletingLastPathComponent()
  }
  return nil
}

/// Records an issue when two arrays differ anywhere by more than `atol + rtol·max|expected|`.
///
/// This is the tolerance for results reached by different summation orders (micro-batches,
/// thread counts, MPI ranks, BLAS kernels, fused against unfused): the rounding of a sum scales
/// with its largest terms, so an element that came out near zero by cancellation carries an
/// error set by the tensor's magnitude, not by its own. Pass one tensor at a time.
public func expectCloseScaled(
  _ actual: [Float], _ expected: [Float], rtol: Float, atol: Float = 0,
  _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
  let scale = expected.reduce(Float(0)) { max($0, abs($1)) }
  expectClose(
    actual, expected, rtol: 0, atol: atol + rtol * scale,
    Comment(rawValue: "max|expected| \(scale)" + (comment.map { "; \($0)" } ?? "")),
    sourceLocation: sourceLocation)
}

/// Records an issue unless two tensors have the same shape and agree within
/// `atol + rtol·max|expected|` (see ``expectCloseScaled(_:_:rtol:atol:_:sourceLocation:)``).
public func expectCloseScaled(
  _ actual: Tensor, _ expected: Tensor, rtol: Float, atol: Float = 0,
  _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(actual.shape == expected.shape, comment, sourceLocation: sourceLocation)
  if actual.shape == expected.shape {
    expectCloseScaled(
      actual.scalars, expected.scalars, rtol: rtol, atol: atol, comment,
      sourceLocation: sourceLocation)
  }
}

/// Compares one tensor's weights after a first AdamW step taken by two models whose gradients
/// agree up to rounding (`gradient` is the reference model's).
///
/// The first step moves a weight by `lr·g/(|g|+ε)` (plus decay), which divides by `|g|`: where
/// `|g|` is at least `conditioned·max|g|` the step is well conditioned and the weights must agree
/// within `atol + rtol·|expected|`; where `g` is within rounding of zero its sign is noise, and
/// the weights can only be held to the step's own bound, `2·lr` apart.
public func expectCloseAfterFirstAdamWStep(
  _ actual: [Float], _ expected: [Float], gradient: [Float], learningRate: Float,
  rtol: Float = 1e-5, atol: Float = 1e-6, conditioned: Float = 1e-3,
  _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual.count == expected.count, gradient.count == expected.count else {
    Issue.record(
      "counts \(actual.count), \(expected.count), gradient \(gradient.count) differ",
      sourceLocation: sourceLocation)
    return
  }
  let threshold = conditioned * gradient.reduce(Float(0)) { max($0, abs($1)) }
  var conditionedActual: [Float] = []
  var conditionedExpected: [Float] = []
  var worstElsewhere: Float = 0
  for i in expected.indices {
    if abs(gradient[i]) >= threshold {
      conditionedActual.append(actual[i])
      conditionedExpected.append(expected[i])
    } else {
      worstElsewhere = max(worstElsewhere, abs(actual[i] - expected[i]))
    }
  }
  expectClose(
    conditionedActual, conditionedExpected, rtol: rtol, atol: atol,
    Comment(rawValue: "where |g| ≥ \(threshold)" + (comment.map { "; \($0)" } ?? "")),
    sourceLocation: sourceLocation)
  if !(worstElsewhere <= 2 * learningRate + atol) {
    let note = comment.map { " — \($0)" } ?? ""
    Issue.record(
      Comment(
        rawValue: "where |g| < \(threshold) the weights differ by \(worstElsewhere) > 2·lr\(note)"),
      sourceLocation: sourceLocation)
  }
}

/// Records an issue unless `‖actual − expected‖₂ ≤ rtol·‖expected‖₂` (computed in `Double`).
///
/// For weights after several optimizer steps taken by runs whose sums ran in different orders:
/// AdamW divides by `|g|`, so a weight whose gradient is within rounding of zero can move
/// differently in each run while the model, and its loss, stay the same. One such weight hardly
/// changes the tensor's norm; a wrong update of the tensor does.
public func expectCloseInNorm(
  _ actual: [Float], _ expected: [Float], rtol: Double,
  _ comment: Comment? = nil, sourceLocation: SourceLocation = #_sourceLocation
) {
  guard actual.count == expected.count else {
    Issue.record(
      "count \(actual.count) ≠ \(expected.count) \(comment.map { "\($0)" } ?? "")",
      sourceLocation: sourceLocation)
    return
  }
  var difference = 0.0
  var norm = 0.0
  for (a, b) in zip(actual, expected) {
    difference += Double(a - b) * Double(a - b)
    norm += Double(b) * Double(b)
  }
  let relative = difference.squareRoot() / max(norm.squareRoot(), .leastNormalMagnitude)
  if !(relative <= rtol) {
    let note = comment.map { " — \($0)" } ?? ""
    Issue.record(
      Comment(rawValue: "‖actual − expected‖/‖expected‖ = \(relative) > \(rtol)\(note)"),
      sourceLocation: sourceLocation)
  }
}
