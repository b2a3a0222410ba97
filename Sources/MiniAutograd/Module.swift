import MiniTensor

/// A layer or model: something that owns parameters and lists them explicitly, with stable names.
public protocol Module {
  /// Calls `visitor` with each parameter, in a fixed order, each exactly once.
  func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows
}

extension Module {
  /// The parameters in visiting order.
  public var parameters: [Parameter] {
    var result: [Parameter] = []
    visitParameters { result.append($0) }
    return result
  }

  /// The parameters by name.
  public var namedParameters: [String: Parameter] {
    var result: [String: Parameter] = [:]
    visitParameters { result[$0.name] = $0 }
    return result
  }

  /// Total number of parameter elements.
  public var parameterCount: Int {
    var total = 0
    visitParameters { total += $0.count }
    return total
  }

  /// Sets this module's gradients to zero. (For a whole model,
  /// ``ParameterArena/zeroGradients()`` does the same in one `memset`.)
  public func zeroGradients() {
    visitParameters { parameter in
      parameter.withUnsafeMutableGradient { $0.update(repeating: 0) }
    }
  }

  /// Runs `loss` on a fresh tape, back-propagates, and returns the loss value. Parameter
  /// gradients are *added* to the arena (call ``zeroGradients()`` first unless accumulating).
  public func valueAndGradient(of loss: (Tape) throws -> Variable) rethrows -> Float {
    try MiniAutograd.valueAndGradient(of: loss)
  }
}

/// Runs `loss` on a fresh tape, back-propagates from its one-element result, and returns its
/// value. Gradients land in the parameters' arenas (added to what is there) and in the tape's
/// leaves.
public func valueAndGradient(of loss: (Tape) throws -> Variable) rethrows -> Float {
  let tape = Tape()
  let output = try loss(tape)
  precondition(output.count == 1, "valueAndGradient: the loss has shape \(output.shape)")
  if output.tape != nil { tape.backward(from: output) }
  return output.value.item
}
