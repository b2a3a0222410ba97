import MiniAutograd
import MiniTensor

extension ParameterArena {
  /// The L2 norm of all gradients of trainable parameters together (PyTorch's total norm of
  /// `clip_grad_norm_`), summed in `Double` over fixed chunks so that the result does not
  /// depend on the thread count. NaN or infinity when any gradient is.
  public func gradientNorm() -> Float {
    let chunk = 1 << 14
    return withUnsafeMutableBuffers { buffers in
      let g = UnsafeBufferPointer(buffers.gradients)
      var total = 0.0
      for parameter in parameters where parameter.requiresGradient {
        let chunks = (parameter.count + chunk - 1) / chunk
        var partial = [Double](repeating: 0, count: chunks)
        partial.withUnsafeMutableBufferPointer { sums in
          let sums = UncheckedSendable(sums)
          parallelFor(chunks, grain: 1) { range in
            for c in range {
              let start = parameter.offset + c * chunk
              let end = min(start + chunk, parameter.offset + parameter.count)
              var sum = 0.0
              for i in start..<end { sum += Double(g[i]) * Double(g[i]) }
              sums.value[c] = sum
            }
          }
        }
        for value in partial { total += value }
      }
      return Float(total.squareRoot())
    }
  }

  /// Scales every gradient by `factor`.
  public func scaleGradients(by factor: Float) {
    withUnsafeMutableBuffers { buffers in
      let g = buffers.gradients.baseAddress!
      parallelFor(buffers.gradients.count, grain: 1 << 15) { range in
        for i in range { g[i] *= factor }
      }
    }
  }

  /// Clips the gradients to a global L2 norm of `maxNorm` as `torch.nn.utils.clip_grad_norm_`:
  /// scaled by `maxNorm / (norm + 1e-6)` when that is below 1.
  /// - Returns: the norm before clipping (non-finite values leave the gradients as they are).
  @discardableResult
  public func clipGradients(maxNorm: Float) -> Float {
    precondition(maxNorm > 0, "clipGradients: maxNorm \(maxNorm)")
    let norm = gradientNorm()
    guard norm.isFinite else { return norm }
    let coefficient = maxNorm / (norm + 1e-6)
    if coefficient < 1 { scaleGradients(by: coefficient) }
    return norm
  }
}
