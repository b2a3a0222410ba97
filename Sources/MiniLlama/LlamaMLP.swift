import MiniAutograd

/// The feed-forward part of a layer, as `transformers`' `LlamaMLP`:
/// `down_proj(silu(gate_proj(x)) · up_proj(x))`.
public struct LlamaMLP {
  /// `[intermediateSize, hiddenSize]`.
  public let gateProj: LinearWeight
  /// `[intermediateSize, hiddenSize]`.
  public let upProj: LinearWeight
  /// `[hiddenSize, intermediateSize]`.
  public let downProj: LinearWeight

  /// The MLP of `x` `[…, hiddenSize]` (already normalised); same shape.
  /// - Parameter tape: records for training when given.
  public func callAsFunction(_ x: Variable, tape: Tape?) -> Variable {
    downProj(swiglu(gate: gateProj(x, tape: tape), up: upProj(x, tape: tape)), tape: tape)
  }
}
