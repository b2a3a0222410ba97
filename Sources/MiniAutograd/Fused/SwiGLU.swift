import MiniTensor

/// The SwiGLU gate of a Llama MLP, `silu(gate) · up`, as one tape node over the fused kernels.
/// - Precondition: `gate` and `up` have the same shape.
public func swiglu(gate: Variable, up: Variable) -> Variable {
  precondition(gate.shape == up.shape, "swiglu: gate \(gate.shape) and up \(up.shape)")
  let count = gate.count
  let (g, u) = (gate.value.contiguous(), up.value.contiguous())
  let value = Tensor(unsafeUninitializedShape: gate.shape) { h in
    guard count > 0 else { return }
    withUnsafePointers(g, u) { g, u in
      Kernels.swigluForward(gate: g, up: u, output: h.baseAddress!, count: count)
    }
  }
  guard let tape = Variable.commonTape(gate, up) else { return Variable(value) }
  let (gg, gu) = (gate.handle, up.handle)
  return tape.record(value) { tape, dh in
    guard count > 0 else { return }
    withUnsafePointers(dh, g, u) { dh, g, u in
      tape.storeGradients(.overwrite(gg, count: count), .overwrite(gu, count: count)) {
        dGate, dUp in
        Kernels.swigluBackward(dh: dh, gate: g, up: u, dGate: dGate, dUp: dUp, count: count)
      }
    }
  }
}

/// `silu(gate) · up` for inference in llama.cpp's arithmetic (``InferenceArithmetic/llamaCpp``):
/// ggml's SiLU over each last-axis row. No tape.
/// - Precondition: `gate` and `up` have the same shape and no tape.
public func swigluLlamaCpp(gate: Variable, up: Variable) -> Variable {
  precondition(
    gate.shape == up.shape && gate.tape == nil && up.tape == nil,
    "swigluLlamaCpp: gate \(gate.shape) and up \(up.shape), untracked")
  let columns = gate.shape.last ?? 1
  let rows = columns == 0 ? 0 : gate.count / columns
  let (g, u) = (gate.value.contiguous(), up.value.contiguous())
  return Variable(
    Tensor(unsafeUninitializedShape: gate.shape) { h in
      guard rows > 0 else { return }
      withUnsafePointers(g, u) { g, u in
        Kernels.swigluForwardLlamaCpp(
          gate: g, up: u, output: h.baseAddress!, rows: rows, columns: columns)
      }
    })
}

extension Unfused {
  /// The SwiGLU gate of a Llama MLP: `silu(gate) · up`.
  public static func swiglu(gate: Variable, up: Variable) -> Variable {
    gate.silu() * up
  }
}
