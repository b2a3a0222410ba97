import MiniTensor

/// RMSNorm over the last axis as Hugging Face's `LlamaRMSNorm`:
/// `x · rsqrt(mean(x²) + eps) · weight` — one tape node over the fused kernel pair.
/// - Parameters:
///   - x: `[…, dim]`.
///   - weight: `[dim]`.
///   - eps: added to the mean square.
/// - Returns: `x`'s shape.
public func rmsNorm(_ x: Variable, weight: Variable, eps: Float) -> Variable {
  precondition(
    x.rank >= 1 && x.shape[x.rank - 1] > 0 && weight.shape == [x.shape[x.rank - 1]],
    "rmsNorm: x \(x.shape) with weight \(weight.shape)")
  let dim = weight.count
  let rows = x.count / dim
  let input = x.value.contiguous()
  let gain = weight.value.contiguous()
  var rstd = Tensor.zeros([0])
  let value = Tensor(unsafeUninitializedShape: x.shape) { y in
    rstd = Tensor(unsafeUninitializedShape: [rows]) { rstd in
      withUnsafePointers(input, gain) { x, w in
        Kernels.rmsNormForward(
          x: x, weight: w, output: y.baseAddress!, rstd: rstd.baseAddress!, rows: rows, dim: dim,
          eps: eps)
      }
    }
  }
  guard let tape = Variable.commonTape(x, weight) else { return Variable(value) }
  let (gx, gw) = (x.handle, weight.handle)
  let savedRstd = rstd
  return tape.record(value) { tape, dy in
    withUnsafePointers(dy, input, gain, savedRstd) { dy, x, w, rstd in
      // The kernel adds the weight's gradient, summed over rows, into `dw`.
      tape.storeGradients(.overwrite(gx, count: rows * dim), .add(gw, count: dim)) { dx, dw in
        Kernels.rmsNormBackward(
          dy: dy, x: x, weight: w, rstd: rstd, dx: dx, dweight: dw, rows: rows, dim: dim)
      }
    }
  }
}

extension Unfused {
  /// RMSNorm over the last axis, as Hugging Face's `LlamaRMSNorm`:
  /// `x · rsqrt(mean(x²) + eps) · weight`, with `weight` of shape `[x.shape.last]`.
  public static func rmsNorm(_ x: Variable, weight: Variable, eps: Float) -> Variable {
    let meanSquare = x.squared().mean(axis: -1, keepingDimension: true)
    return x * (meanSquare + eps).rsqrt() * weight
  }
}
