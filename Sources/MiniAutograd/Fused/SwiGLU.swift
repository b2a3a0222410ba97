import MiniTensor

extension Unfused {
  /// The SwiGLU gate of a Llama MLP: `silu(gate) · up`.
  public static func swiglu(gate: Variable, up: Variable) -> Variable {
    gate.silu() * up
  }
}
