import MiniTensor

extension Unfused {
  /// RMSNorm over the last axis, as Hugging Face's `LlamaRMSNorm`:
  /// `x · rsqrt(mean(x²) + eps) · weight`, with `weight` of shape `[x.shape.last]`.
  public static func rmsNorm(_ x: Variable, weight: Variable, eps: Float) -> Variable {
    let meanSquare = x.squared().mean(axis: -1, keepingDimension: true)
    return x * (meanSquare + eps).rsqrt() * weight
  }
}
