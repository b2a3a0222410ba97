import MiniAutograd
import MiniTensor

/// Which parameters decoupled weight decay applies to.
public enum WeightDecayPolicy: String, Sendable, Codable {
  /// Each parameter's own flag: by default tensors of two or more dimensions (not norms, biases).
  case byParameter
  /// Every parameter (one group, as `torch.optim.AdamW(model.parameters())`).
  case all
}

/// AdamW with PyTorch's conventions (decoupled weight decay applied first, bias correction,
/// `eps` added after the bias-corrected square root), one pass over the whole parameter arena.
public struct AdamW: Sendable, Codable {
  /// Step size.
  public var learningRate: Float
  /// First-moment decay.
  public var beta1: Float
  /// Second-moment decay.
  public var beta2: Float
  /// Added to the denominator.
  public var epsilon: Float
  /// Decoupled weight decay coefficient.
  public var weightDecay: Float
  /// Which parameters decay.
  public var decayPolicy: WeightDecayPolicy
  /// Updates taken so far (the `t` of the bias correction).
  public private(set) var step = 0

  /// AdamW; the defaults are the seeds' (betas 0.9/0.95, weight decay 0.1).
  public init(
    learningRate: Float = 3e-4, beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8,
    weightDecay: Float = 0.1, decayPolicy: WeightDecayPolicy = .byParameter
  ) {
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
    self.decayPolicy = decayPolicy
  }

  /// Applies one update to every parameter of `arena` from its gradients; the moments live in
  /// the arena (allocated, zeroed, on the first step).
  public mutating func update(_ arena: ParameterArena) {
    step += 1
    let t = Double(step)
    let stepSize = Float(Double(learningRate) / (1 - pow(Double(beta1), t)))
    let correction2 = Float((1 - pow(Double(beta2), t)).squareRoot())
    let (b1, b2, eps) = (beta1, beta2, epsilon)
    let decayFactor = Float(1 - Double(learningRate) * Double(weightDecay))
    let policy = decayPolicy
    arena.withUnsafeMutableBuffers(includingMoments: true) { buffers in
      let p = buffers.values.baseAddress!
      let g = buffers.gradients.baseAddress!
      let m = buffers.firstMoments!.baseAddress!
      let v = buffers.secondMoments!.baseAddress!
      for parameter in arena.parameters {
        let decays = policy == .all || parameter.weightDecay
        let base = parameter.offset
        parallelFor(parameter.count, grain: 1 << 15) { range in
          for i in (base + range.lowerBound)..<(base + range.upperBound) {
            if decays { p[i] *= decayFactor }
            let gi = g[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            let denominator = v[i].squareRoot() / correction2 + eps
            p[i] -= stepSize * (m[i] / denominator)
          }
        }
      }
    }
  }
}

#if canImport(Glibc)
  import Glibc
#endif
