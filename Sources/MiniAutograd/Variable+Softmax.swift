import MiniTensor

#if canImport(Glibc)
  import Glibc
#endif

// Softmax and log-softmax over the last axis.

extension Variable {
  /// Softmax over the last axis.
  public func softmax() -> Variable {
    precondition(rank >= 1, "softmax: needs at least one dimension, got \(shape)")
    let cols = shape[rank - 1]
    let rows = cols == 0 ? 0 : count / cols
    let y = Tensor(unsafeUninitializedShape: shape) { y in
      value.withUnsafeBufferPointer { x in
        for r in 0..<rows {
          let row = r * cols
          var top = -Float.infinity
          for j in 0..<cols { top = max(top, x[row + j]) }
          var total: Float = 0
          for j in 0..<cols {
            let e = expf(x[row + j] - top)
            y[row + j] = e
            total += e
          }
          let inverse = 1 / total
          for j in 0..<cols { y[row + j] *= inverse }
        }
      }
    }
    guard let tape else { return Variable(y) }
    let a = slot
    return tape.record(y) { tape, dy in
      // dx = y ⊙ (dy − Σ dy·y)
      y.withUnsafeBufferPointer { y in
        dy.withUnsafeBufferPointer { dy in
          tape.withGradientBuffer(of: a) { dx, accumulate in
            for r in 0..<rows {
              let row = r * cols
              var dot: Float = 0
              for j in 0..<cols { dot += dy[row + j] * y[row + j] }
              for j in 0..<cols {
                let g = y[row + j] * (dy[row + j] - dot)
                dx[row + j] = accumulate ? dx[row + j] + g : g
              }
            }
          }
        }
      }
    }
  }

  /// Log-softmax over the last axis: `x − log Σ e^x`, computed stably.
  public func logSoftmax() -> Variable {
    precondition(rank >= 1, "logSoftmax: needs at least one dimension, got \(shape)")
    let cols = shape[rank - 1]
    let rows = cols == 0 ? 0 : count / cols
    let y = Tensor(unsafeUninitializedShape: shape) { y in
      value.withUnsafeBufferPointer { x in
        for r in 0..<rows {
          let row = r * cols
          var top = -Float.infinity
          for j in 0..<cols { top = max(top, x[row + j]) }
          var total: Float = 0
          for j in 0..<cols { total += expf(x[row + j] - top) }
          let logSum = top + logf(total)
          for j in 0..<cols { y[row + j] = x[row + j] - logSum }
        }
      }
    }
    guard let tape else { return Variable(y) }
    let a = slot
    return tape.record(y) { tape, dy in
      // dx = dy − softmax(x) · Σ dy
      y.withUnsafeBufferPointer { y in
        dy.withUnsafeBufferPointer { dy in
          tape.withGradientBuffer(of: a) { dx, accumulate in
            for r in 0..<rows {
              let row = r * cols
              var total: Float = 0
              for j in 0..<cols { total += dy[row + j] }
              for j in 0..<cols {
                let g = dy[row + j] - expf(y[row + j]) * total
                dx[row + j] = accumulate ? dx[row + j] + g : g
              }
            }
          }
        }
      }
    }
  }
}
