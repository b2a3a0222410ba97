extension Kernels {
  /// RMSNorm forward as in Hugging Face Llama: `y = x / sqrt(mean(x²) + eps) · w` per row.
  ///
  /// - Parameters:
  ///   - x: input `[rows, dim]`.
  ///   - weight: gain `[dim]`.
  ///   - y: output `[rows, dim]` (may alias `x`).
  ///   - rstd: `[rows]`, receives `1 / sqrt(mean(x²) + eps)` of each row for the backward pass.
  /// - Complexity: O(rows·dim), rows split over threads.
  package static func rmsNormForward(
    x: UnsafePointer<Float>, weight: UnsafePointer<Float>, output y: UnsafeMutablePointer<Float>,
    rstd: UnsafeMutablePointer<Float>, rows: Int, dim: Int, eps: Float
  ) {
    precondition(rows >= 0 && dim > 0, "rmsNormForward: rows \(rows), dim \(dim)")
    parallelFor(rows, grain: rowGrain(width: 2 * dim)) { range in
      for r in range {
        let xr = x + r * dim
        let yr = y + r * dim
        let meanSquare = dot(xr, xr, dim) / Double(dim)
        let s = Float(1 / (meanSquare + Double(eps)).squareRoot())
        rstd[r] = s
        let sv = SIMD8<Float>(repeating: s)
        var i = 0
        while i + 8 <= dim {
          store8(load8(xr + i) * sv * load8(weight + i), yr + i)
          i += 8
        }
        while i < dim {
          yr[i] = xr[i] * s * weight[i]
          i += 1
        }
      }
    }
  }

  /// Rows per block of the `dweight` reduction. The blocks, not the threads, fix the summation
  /// order, so `dweight` is the same bit for bit whatever the thread count.
  static let rmsNormBlockRows = 64
  /// At most this many blocks (so at most this many `[dim]` partial buffers).
  static let rmsNormMaxBlocks = 16

  /// RMSNorm backward.
  ///
  /// With `n = dim`, `s = rstd`, `g = dy ⊙ w`:
  /// `dx = s·g − (s³/n)·(Σ g⊙x)·x`, `dweight += Σ_rows dy ⊙ x · s`.
  /// - Parameters:
  ///   - dy: upstream gradient `[rows, dim]`.
  ///   - x, weight, rstd: the forward inputs and the saved `rstd`.
  ///   - dx: `[rows, dim]`, overwritten (may alias `dy`).
  ///   - dweight: `[dim]`, accumulated (`+=`). The per-row terms are summed in fixed blocks of
  ///     rows (partial buffers in `Float`, blocks added in `Double`), so there is no race and the
  ///     result does not depend on the thread count.
  package static func rmsNormBackward(
    dy: UnsafePointer<Float>, x: UnsafePointer<Float>, weight: UnsafePointer<Float>,
    rstd: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    dweight: UnsafeMutablePointer<Float>, rows: Int, dim: Int
  ) {
    precondition(rows >= 0 && dim > 0, "rmsNormBackward: rows \(rows), dim \(dim)")
    if rows == 0 { return }
    let blocks = min(rmsNormMaxBlocks, (rows + rmsNormBlockRows - 1) / rmsNormBlockRows)
    let partials = UnsafeMutablePointer<Float>.allocate(capacity: blocks * dim)
    defer { partials.deallocate() }
    partials.initialize(repeating: 0, count: blocks * dim)
    let blockGrain = max(1, rowGrain(width: 4 * dim) / max(1, rows / blocks))
    parallelFor(blocks, grain: blockGrain) { blockRange in
      for block in blockRange {
        let dw = partials + block * dim
        for r in (rows * block / blocks)..<(rows * (block + 1) / blocks) {
          let dyr = dy + r * dim
          let xr = x + r * dim
          let dxr = dx + r * dim
          let s = rstd[r]
          let gx = dot3(dyr, weight, xr, dim)
          let c = Float(Double(s) * Double(s) * Double(s) * gx / Double(dim))
          let sv = SIMD8<Float>(repeating: s)
          let cv = SIMD8<Float>(repeating: -c)
          var i = 0
          while i + 8 <= dim {
            let dyv = load8(dyr + i)
            let xv = load8(xr + i)
            store8((sv * dyv * load8(weight + i)).addingProduct(cv, xv), dxr + i)
            store8(load8(dw + i).addingProduct(dyv * xv, sv), dw + i)
            i += 8
          }
          while i < dim {
            let dyv = dyr[i]
            let xv = xr[i]
            dxr[i] = (s * dyv * weight[i]).addingProduct(-c, xv)
            dw[i] = dw[i].addingProduct(dyv * xv, s)
            i += 1
          }
        }
      }
    }
    for i in 0..<dim {
      var total: Double = 0
      for block in 0..<blocks { total += Double(partials[block * dim + i]) }
      dweight[i] += Float(total)
    }
  }
}
