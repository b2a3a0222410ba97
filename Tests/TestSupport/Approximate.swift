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
