internal import CKernels

extension Kernels {
  /// One AdamW step on `count` elements (PyTorch's formula, no fused multiply-add, so every
  /// instruction set gives the same bits): `p ← p·decayFactor` (when given),
  /// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `p ← p − stepSize · m / (√v / correction2 + ε)`.
  ///
  /// - Parameters:
  ///   - p, m, v: parameters and moments, updated in place.
  ///   - g: gradients.
  ///   - stepSize: the learning rate over the first moment's bias correction.
  ///   - correction2: `√(1 − β₂ᵗ)`.
  ///   - decayFactor: `1 − lr·weightDecay`, or `nil` for no decay.
  package static func adamWUpdate(
    p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
    v: UnsafeMutablePointer<Float>, count: Int, beta1: Float, beta2: Float, epsilon: Float,
    correction2: Float, stepSize: Float, decayFactor: Float?
  ) {
    activeKernels.adamw(
      p, g, m, v, count, beta1, beta2, 1 - beta1, 1 - beta2, correction2, epsilon, stepSize,
      decayFactor ?? 1, decayFactor != nil ? 1 : 0)
  }
}
