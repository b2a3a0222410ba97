import MiniTensor

/// Compares the tape's gradients of a function with central finite differences.
///
/// The function may return any shape: the checker differentiates the fixed random projection
/// `Σ rᵢ · outputᵢ` (seeding backward with `r`), so every output element is exercised (a plain sum
/// would miss errors that cancel, e.g. in softmax). Differences are formed in `Double` from the
/// `Float` evaluations, dividing by the step actually taken after rounding the input.
///
/// ```swift
/// let report = GradientCheck.check(inputs: [x, w]) { tape, v in rmsNorm(v[0], weight: v[1], eps: 1e-5) }
/// #expect(report.passed, "\(report)")
/// ```
public enum GradientCheck {
  /// Checks every element of inputs up to `maxElementsPerInput` elements, and that many randomly
  /// chosen elements of larger inputs.
  /// - Parameters:
  ///   - inputs: the points at which to differentiate; each becomes a tracked leaf.
  ///   - step: the finite-difference step `h`.
  ///   - absoluteTolerance: an element passes when `|analytic − numeric| ≤ absoluteTolerance +
  ///     relativeTolerance · max(|analytic|, |numeric|)`.
  ///   - relativeTolerance: see `absoluteTolerance`.
  ///   - maxElementsPerInput: how many elements of each input to check at most.
  ///   - seed: seeds the projection and the element sample.
  ///   - function: builds the output from the inputs' variables on the given tape (it is called
  ///     once with backward, and twice per checked element).
  /// - Returns: the errors found, with the worst element.
  public static func check(
    inputs: [Tensor], step: Float = 1e-2, absoluteTolerance: Float = 5e-4,
    relativeTolerance: Float = 2e-3, maxElementsPerInput: Int = 256, seed: UInt64 = 0,
    function: (Tape, [Variable]) -> Variable
  ) -> GradientCheckReport {
    var rng = PhiloxRNG(seed: seed)
    let tape = Tape()
    let variables = inputs.map { tape.variable($0) }
    let output = function(tape, variables)
    let projection = Tensor.randomNormal(output.shape, using: &rng)
    precondition(output.tape != nil, "GradientCheck: the output does not depend on the inputs")
    tape.backward(from: output, seed: projection)
    let analytic = zip(inputs, variables).map { input, variable in
      (tape.gradient(of: variable) ?? Tensor.zeros(input.shape)).scalars
    }
    let weights = projection.scalars

    func objective(_ point: [Tensor]) -> Double {
      let evaluation = Tape()
      let result = function(evaluation, point.map { evaluation.variable($0) })
      precondition(
        result.shape == projection.shape,
        "GradientCheck: output shape changed from \(projection.shape) to \(result.shape)")
      return result.value.withUnsafeBufferPointer { values in
        var total: Double = 0
        for i in 0..<values.count { total += Double(weights[i]) * Double(values[i]) }
        return total
      }
    }

    var report = GradientCheckReport()
    var point = inputs
    for (inputIndex, input) in inputs.enumerated() {
      var indices = Array(0..<input.count)
      if indices.count > maxElementsPerInput {
        indices.shuffle(using: &rng)
        indices = Array(indices.prefix(maxElementsPerInput)).sorted()
      }
      let original = input.scalars
      for index in indices {
        var scalars = original
        let x = original[index]
        scalars[index] = x + step
        let upper = scalars[index]
        point[inputIndex] = Tensor(scalars, shape: input.shape)
        let plus = objective(point)
        scalars[index] = x - step
        let lower = scalars[index]
        point[inputIndex] = Tensor(scalars, shape: input.shape)
        let minus = objective(point)
        let numeric = Float((plus - minus) / (Double(upper) - Double(lower)))
        report.record(
          input: inputIndex, index: index, analytic: analytic[inputIndex][index],
          numeric: numeric, absoluteTolerance: absoluteTolerance,
          relativeTolerance: relativeTolerance)
      }
      point[inputIndex] = input
    }
    return report
  }
}

/// The outcome of ``GradientCheck/check(inputs:step:absoluteTolerance:relativeTolerance:maxElementsPerInput:seed:function:)``.
public struct GradientCheckReport: Sendable, CustomStringConvertible {
  /// One checked element.
  public struct Element: Sendable, Equatable {
    /// Which input.
    public var input: Int
    /// Row-major element index within that input.
    public var index: Int
    /// The tape's gradient.
    public var analytic: Float
    /// The central-difference estimate.
    public var numeric: Float
  }

  /// Number of elements compared.
  public private(set) var checkedElements = 0
  /// Number of elements outside the tolerance.
  public private(set) var failedElements = 0
  /// Largest `|analytic − numeric|`.
  public private(set) var maxAbsoluteError: Float = 0
  /// Largest `|analytic − numeric| / max(|analytic|, |numeric|)` (0 where both are 0).
  public private(set) var maxRelativeError: Float = 0
  /// The element furthest outside (or least inside) its tolerance.
  public private(set) var worst: Element?
  private var worstExcess = -Float.infinity

  /// Whether every element was within tolerance (and at least one was checked).
  public var passed: Bool { checkedElements > 0 && failedElements == 0 }

  mutating func record(
    input: Int, index: Int, analytic: Float, numeric: Float, absoluteTolerance: Float,
    relativeTolerance: Float
  ) {
    checkedElements += 1
    let error = Swift.abs(analytic - numeric)
    let magnitude = Swift.max(Swift.abs(analytic), Swift.abs(numeric))
    let excess = error - (absoluteTolerance + relativeTolerance * magnitude)
    if !(excess <= 0) { failedElements += 1 }
    maxAbsoluteError = Swift.max(maxAbsoluteError, error.isNaN ? .infinity : error)
    if magnitude > 0 { maxRelativeError = Swift.max(maxRelativeError, error / magnitude) }
    let comparable = excess.isNaN ? Float.infinity : excess
    if comparable > worstExcess {
      worstExcess = comparable
      worst = Element(input: input, index: index, analytic: analytic, numeric: numeric)
    }
  }

  /// A one-line summary with the worst element.
  public var description: String {
    let verdict = passed ? "passed" : "FAILED (\(failedElements) elements out of tolerance)"
    var text =
      "gradient check \(verdict): \(checkedElements) elements, max abs error \(maxAbsoluteError), "
      + "max rel error \(maxRelativeError)"
    if let worst {
      text +=
        "; worst: input \(worst.input) element \(worst.index) analytic \(worst.analytic) "
        + "numeric \(worst.numeric)"
    }
    return text
  }
}
