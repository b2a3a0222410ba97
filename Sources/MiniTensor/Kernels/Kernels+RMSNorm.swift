internal import CKernels

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
    let kernels = activeKernels
    parallelFor(rows, grain: rowGrain(width: 2 * dim)) { range in
      let first = range.lowerBound
      kernels.rmsnorm_forward(
        x + first * dim, weight, y + first * dim, rstd + first, range.count, dim, eps)
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
    let kernels = activeKernels
    parallelFor(blocks, grain: blockGrain) { blockRange in
      for block in blockRange {
        let dw = partials + block * dim
        let first = rows * block / blocks
        let count = rows * (block + 1) / blocks - first
        kernels.rmsnorm_backward(
          dy + first * dim, x + first * dim, weight, rstd + first, dx + first * dim, dw, count,
          dim)
      }
    }
    for i in 0..<dim {
      var total: Double = 0
      for block in 0..<blocks { total += Double(partials[block * dim + i]) }
      dweight[i] += Float(total)
    }
  }
}
