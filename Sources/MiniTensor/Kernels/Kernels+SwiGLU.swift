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
    forEightLanes(count) { i, n in
      let g = loadPartial8OrFull(gate + i, n)
      let u = loadPartial8OrFull(up + i, n)
      storePartial8OrFull(g * sigmoid(g) * u, output + i, n)
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
    forEightLanes(count) { i, n in
      let d = loadPartial8OrFull(dh + i, n)
      let g = loadPartial8OrFull(gate + i, n)
      let u = loadPartial8OrFull(up + i, n)
      let s = sigmoid(g)
      let silu = g * s
      let dSilu = s * (1 + g * (1 - s))
      storePartial8OrFull(d * u * dSilu, dGate + i, n)
      storePartial8OrFull(d * silu, dUp + i, n)
    }
  }

  /// Elements per thread for element-wise kernels heavy enough to use `exp`.
  static let elementwiseGrain = 16_384

  /// Calls `body(start, n)` for consecutive groups of eight elements (`n` = 8, or fewer for the
  /// last), split over threads in multiples of eight so every element takes the same path.
  @inline(__always)
  static func forEightLanes(_ count: Int, _ body: (Int, Int) -> Void) {
    let groups = (count + 7) / 8
    parallelFor(groups, grain: elementwiseGrain / 8) { range in
      for group in range {
        let start = group * 8
        body(start, min(8, count - start))
      }
    }
  }
}

@inline(__always)
func loadPartial8OrFull(_ p: UnsafePointer<Float>, _ n: Int) -> SIMD8<Float> {
  n == 8 ? load8(p) : loadPartial8(p, n)
}

@inline(__always)
func storePartial8OrFull(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
  if n == 8 { store8(v, p) } else { storePartial8(v, p, n) }
}
