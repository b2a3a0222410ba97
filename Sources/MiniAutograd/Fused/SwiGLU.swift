import MiniTensor

/// The SwiGLU gate of a Llama MLP, `silu(gate) · up`, as one tape node over the fused kernels.
/// - Precondition: `gate` and `up` have the same shape.
public func swiglu(gate: Variable, up: Variable) -> Variable {
  precondition(gate.shape == up.shape, "swiglu: gate \(gate.shape) and up \(up.shape)")
  let count = gate.count
  let (g, u) = (gate.value.contiguous(), up.value.contiguous())
  let value = Tensor(unsafeUninitializedShape: gate.shape) { h in
    g.withUnsafeBufferPointer { g in
      u.withUnsafeBufferPointer { u in
        guard count > 0 else { return }
        Kernels.swigluForward(
          gate: g.baseAddress!, up: u.baseAddress!, output: h.baseAddress!, count: count)
      }
    }
  }
  guard let tape = Variable.commonTape(gate, up) else { return Variable(value) }
  let (gg, gu) = (gate.handle, up.handle)
  return tape.record(value) { tape, dh in
    guard count > 0 else { return }
    dh.withUnsafeBufferPointer { dh in
      g.withUnsafeBufferPointer { g in
        u.withUnsafeBufferPointer { u in
          tape.storeGradient(of: gg, count: count) { dGate in
            tape.storeGradient(of: gu, count: count) { dUp in
              Kernels.swigluBackward(
                dh: dh.baseAddress!, gate: g.baseAddress!, up: u.baseAddress!,
                dGate: dGate.baseAddress!, dUp: dUp.baseAddress!, count: count)
            }
          }
        }
      }
    }
  }
}

extension Unfused {
  /// The SwiGLU gate of a Llama MLP: `silu(gate) · up`.
  public static func swiglu(gate: Variable, up: Variable) -> Variable {
    gate.silu() * up
  }
}
