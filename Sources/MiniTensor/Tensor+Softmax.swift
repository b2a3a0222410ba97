extension Tensor {
  /// Softmax over the last axis (stable: the row maximum is subtracted first).
  public func softmax() -> Tensor {
    lastAxisKernel("softmax") { x, y, rows, cols in
      Kernels.softmaxForward(x: x, output: y, rows: rows, cols: cols)
    }
  }

  /// Log-softmax over the last axis: `x − logsumexp(x)` per row.
  public func logSoftmax() -> Tensor {
    lastAxisKernel("logSoftmax") { x, y, rows, cols in
      Kernels.logSoftmaxForward(x: x, output: y, rows: rows, cols: cols)
    }
  }

  /// Applies a row kernel over the last axis into a new contiguous tensor of the same shape.
  private func lastAxisKernel(
    _ name: String,
    _ kernel: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void
  ) -> Tensor {
    precondition(rank >= 1, "\(name): needs at least one axis, got shape \(shape)")
    let cols = shape[rank - 1]
    let result = Tensor(uninitializedShape: shape)
    if count == 0 { return result }
    withUnsafeBufferPointer { source in
      kernel(source.baseAddress!, result.storage.base, count / cols, cols)
    }
    return result
  }
}
