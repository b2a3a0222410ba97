internal import CKernels

extension Kernels {
  /// SwiGLU: `h = silu(gate) ⊙ up`, `silu(g) = g · σ(g)`, element-wise over `count` elements.
  ///
  /// - Parameters:
  ///   - gate, up: `[count]` (any shape flattened).
  ///   - output: `[count]`, may alias `gate` or `up`.
  package static func swigluForward(
    gate: UnsafePointer<Float>, up: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    precondition(count >= 0, "swigluForward: count \(count)")
    let kernels = activeKernels
    forEightLanes(count) { start, end in
      kernels.swiglu_forward(gate + start, up + start, output + start, end - start)
    }
  }

  /// SwiGLU as llama.cpp's CPU backend computes it (``InferenceArithmetic/llamaCpp``), row by
  /// row: `g / (1 + e^(−g)) · u` with ggml's `e^x` for each whole 8 of a row and libm's `expf`
  /// for the rest.
  ///
  /// - Parameters:
  ///   - gate, up: `[rows, columns]`.
  ///   - output: `[rows, columns]`, may alias `gate` or `up`.
  package static func swigluForwardLlamaCpp(
    gate: UnsafePointer<Float>, up: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>,
    rows: Int, columns: Int
  ) {
    precondition(rows >= 0 && columns >= 0, "swigluForwardLlamaCpp: [\(rows), \(columns)]")
    let kernels = activeKernels
    parallelFor(rows, grain: rowGrain(width: 3 * columns)) { range in
      for row in range {
        let offset = row * columns
        kernels.swiglu_forward_ggml(gate + offset, up + offset, output + offset, columns)
      }
    }
  }

  /// SwiGLU backward:
  /// `dUp = dh ⊙ silu(g)`, `dGate = dh ⊙ up ⊙ σ(g)·(1 + g·(1 − σ(g)))`.
  ///
  /// - Parameters:
  ///   - dh: upstream gradient `[count]`.
  ///   - gate, up: the forward inputs.
  ///   - dGate, dUp: `[count]`, overwritten (`dGate` may alias `gate` or `dh`, `dUp` may alias
  ///     `up` or `dh`, but not both the same buffer).
  package static func swigluBackward(
    dh: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>,
    dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>, count: Int
  ) {
    precondition(count >= 0, "swigluBackward: count \(count)")
    let kernels = activeKernels
    forEightLanes(count) { start, end in
      kernels.swiglu_backward(
        dh + start, gate + start, up + start, dGate + start, dUp + start, end - start)
    }
  }

  /// Elements per thread for element-wise kernels heavy enough to use `exp`.
  static let elementwiseGrain = 16_384

  /// Calls `body(start, end)` on disjoint ranges covering `0..<count`, split over threads at
  /// multiples of eight. (Each element's result does not depend on where a range starts: the
  /// kernels run the tail of a range through the same vector code.)
  @inline(__always)
  static func forEightLanes(_ count: Int, _ body: (Int, Int) -> Void) {
    let groups = (count + 7) / 8
    parallelFor(groups, grain: elementwiseGrain / 8) { range in
      body(range.lowerBound * 8, min(count, range.upperBound * 8))
    }
  }
}
