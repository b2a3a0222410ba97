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
    forEightLanes(count) { start, end in
      var i = start
      while i + 8 <= end {
        let g = load8(gate + i)
        store8(g * sigmoid(g) * load8(up + i), output + i)
        i += 8
      }
      if i < end {
        let g = loadPartial8(gate + i, end - i)
        storePartial8(g * sigmoid(g) * loadPartial8(up + i, end - i), output + i, end - i)
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
    forEightLanes(count) { start, end in
      var i = start
      while i + 8 <= end {
        let (dg, du) = swigluGradients(load8(dh + i), load8(gate + i), load8(up + i))
        store8(dg, dGate + i)
        store8(du, dUp + i)
        i += 8
      }
      if i < end {
        let n = end - i
        let (dg, du) = swigluGradients(
          loadPartial8(dh + i, n), loadPartial8(gate + i, n), loadPartial8(up + i, n))
        storePartial8(dg, dGate + i, n)
        storePartial8(du, dUp + i, n)
      }
    }
  }

  /// `(dGate, dUp)` for eight lanes.
  @inline(__always)
  static func swigluGradients(_ d: SIMD8<Float>, _ g: SIMD8<Float>, _ u: SIMD8<Float>)
    -> (SIMD8<Float>, SIMD8<Float>)
  {
    let s = sigmoid(g)
    let dSilu = s * (1 + g * (1 - s))
    return (d * u * dSilu, d * (g * s))
  }

  /// Elements per thread for element-wise kernels heavy enough to use `exp`.
  static let elementwiseGrain = 16_384

  /// Calls `body(start, end)` on disjoint ranges covering `0..<count`, split over threads at
  /// multiples of eight so every element takes the same vector path whatever the thread count.
  @inline(__always)
  static func forEightLanes(_ count: Int, _ body: (Int, Int) -> Void) {
    let groups = (count + 7) / 8
    parallelFor(groups, grain: elementwiseGrain / 8) { range in
      body(range.lowerBound * 8, min(count, range.upperBound * 8))
    }
  }
}
