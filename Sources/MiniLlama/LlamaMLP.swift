import MiniAutograd
import MiniTensor

/// The feed-forward part of a layer, as `transformers`' `LlamaMLP`:
/// `down_proj(silu(gate_proj(x)) · up_proj(x))`.
public struct LlamaMLP {
  /// `[intermediateSize, hiddenSize]`.
  public let gateProj: LinearWeight
  /// `[intermediateSize, hiddenSize]`.
  public let upProj: LinearWeight
  /// `[hiddenSize, intermediateSize]`.
  public let downProj: LinearWeight
  /// Whose SiLU inference computes (training always takes `transformers`').
  public internal(set) var arithmetic: InferenceArithmetic = .transformers

  /// The MLP of `x` `[…, hiddenSize]` (already normalised); same shape.
  /// - Parameter tape: records for training when given.
  public func callAsFunction(_ x: Variable, tape: Tape?) -> Variable {
    let gate = gateProj(x, tape: tape)
    let up = upProj(x, tape: tape)
    return downProj(activation(gate: gate, up: up, tape: tape), tape: tape)
  }

  /// `silu(gate) · up` in the model's arithmetic for inference, `transformers`' on a tape.
  func activation(gate: Variable, up: Variable, tape: Tape?) -> Variable {
    tape == nil && arithmetic == .llamaCpp
      ? swigluLlamaCpp(gate: gate, up: up) : swiglu(gate: gate, up: up)
  }
}
