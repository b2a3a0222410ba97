import MiniTensor

// Softmax and log-softmax over the last axis, on the vectorised kernels.

extension Variable {
  /// Softmax over the last axis.
  public func softmax() -> Variable {
    rowwise(
      name: "softmax", forward: Kernels.softmaxForward(x:output:rows:cols:),
      backward: Kernels.softmaxBackward(dy:y:dx:rows:cols:))
  }

  /// Log-softmax over the last axis: `x − log Σ e^x`, computed stably.
  public func logSoftmax() -> Variable {
    rowwise(
      name: "logSoftmax", forward: Kernels.logSoftmaxForward(x:output:rows:cols:),
      backward: Kernels.logSoftmaxBackward(dy:y:dx:rows:cols:))
  }

  /// A last-axis operation whose backward needs only its output.
  private func rowwise(
    name: String,
    forward: (UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int) -> Void,
    backward:
      @escaping (
        UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>, Int, Int
      ) -> Void
  ) -> Variable {
    precondition(rank >= 1, "\(name): needs at least one dimension, got \(shape)")
    let cols = shape[rank - 1]
    let rows = cols == 0 ? 0 : count / cols
    let y = Tensor(unsafeUninitializedShape: shape) { y in
      withUnsafePointers(value) { x in
        if rows > 0 { forward(x, y.baseAddress!, rows, cols) }
      }
    }
    guard let tape else { return Variable(y) }
    let (a, count) = (slot, self.count)
    return tape.record(y) { tape, dy in
      guard rows > 0 else { return }
      withUnsafePointers(y, dy) { y, dy in
        tape.storeGradients(.overwrite(a, count: count)) { dx in backward(dy, y, dx, rows, cols) }
      }
    }
  }
}
