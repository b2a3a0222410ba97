internal import CKernels

extension Kernels {
  /// Softmax over the last axis, stable (the row maximum is subtracted first).
  ///
  /// - Parameters:
  ///   - x: `[rows, cols]`.
  ///   - output: `[rows, cols]`, may alias `x`.
  package static func softmaxForward(
    x: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    precondition(rows >= 0 && cols > 0, "softmaxForward: rows \(rows), cols \(cols)")
    parallelFor(rows, grain: rowGrain(width: 3 * cols)) { range in
      for r in range { softmaxRow(x + r * cols, output + r * cols, cols) }
    }
  }

  /// Softmax backward: `dx = y ⊙ (dy − Σ dy⊙y)` per row.
  ///
  /// - Parameters:
  ///   - dy: upstream gradient `[rows, cols]`.
  ///   - y: the forward output `[rows, cols]`.
  ///   - dx: `[rows, cols]`, overwritten (may alias `dy`).
  package static func softmaxBackward(
    dy: UnsafePointer<Float>, y: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    rows: Int, cols: Int
  ) {
    precondition(rows >= 0 && cols > 0, "softmaxBackward: rows \(rows), cols \(cols)")
    parallelFor(rows, grain: rowGrain(width: 2 * cols)) { range in
      for r in range {
        softmaxBackwardRow(dy + r * cols, y + r * cols, dx + r * cols, cols, scale: 1)
      }
    }
  }

  /// Log-softmax over the last axis: `y = x − max − log Σ e^(x − max)`.
  ///
  /// - Parameters:
  ///   - x: `[rows, cols]`.
  ///   - output: `[rows, cols]`, may alias `x`.
  package static func logSoftmaxForward(
    x: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    precondition(rows >= 0 && cols > 0, "logSoftmaxForward: rows \(rows), cols \(cols)")
    let kernels = activeKernels
    parallelFor(rows, grain: rowGrain(width: 3 * cols)) { range in
      for r in range {
        let xr = x + r * cols
        kernels.shift_row(xr, output + r * cols, cols, Float(kernels.log_sum_exp(xr, cols)))
      }
    }
  }

  /// Log-softmax backward: `dx = dy − e^y · Σ dy` per row.
  ///
  /// - Parameters:
  ///   - dy: upstream gradient `[rows, cols]`.
  ///   - y: the forward output (log-probabilities) `[rows, cols]`.
  ///   - dx: `[rows, cols]`, overwritten (may alias `dy`).
  package static func logSoftmaxBackward(
    dy: UnsafePointer<Float>, y: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    rows: Int, cols: Int
  ) {
    precondition(rows >= 0 && cols > 0, "logSoftmaxBackward: rows \(rows), cols \(cols)")
    let kernels = activeKernels
    parallelFor(rows, grain: rowGrain(width: 3 * cols)) { range in
      for r in range {
        kernels.log_softmax_backward_row(dy + r * cols, y + r * cols, dx + r * cols, cols)
      }
    }
  }

  // MARK: - Row helpers shared with attention and cross-entropy

  /// The kernels of the instruction set in use (CKernels' run-time choice).
  static var activeKernels: ck_kernels { ck_active_kernels().pointee }

  /// `log Σ e^x[i]` in one pass over memory: each block's maximum is found while the block is
  /// in cache, and the running sum is rescaled when the maximum grows (online log-sum-exp).
  @inline(__always)
  static func logSumExp(_ x: UnsafePointer<Float>, _ count: Int) -> Double {
    activeKernels.log_sum_exp(x, count)
  }

  /// Stable softmax of one row of `count` elements (`y` may alias `x`).
  @inline(__always)
  static func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int)
  {
    activeKernels.softmax_row(x, y, count)
  }

  /// `dx = scale · y ⊙ (dy − Σ dy⊙y)` for one row (`dx` may alias `dy`).
  @inline(__always)
  static func softmaxBackwardRow(
    _ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
    _ count: Int, scale: Float
  ) {
    activeKernels.softmax_backward_row(dy, y, dx, count, scale)
  }
}
