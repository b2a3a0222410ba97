import MiniAutograd
import MiniTensor

#if canImport(Glibc)
  import Glibc
#endif

/// Proximal policy optimisation as TRL's `PPOTrainer` computes it: per-token rewards (the
/// reward model's score minus a KL penalty to the frozen reference), optional reward
/// whitening, generalised advantage estimation, whitened advantages, and the clipped policy
/// and value losses.
///
/// Rollout arrays are laid out as TRL's `responses`: `rows` completions, `width` response
/// positions each (row-major), completion `r` holding `lengths[r]` tokens. As in TRL, the
/// score is added at response position `lengths[r]` (one past the last token, where the value
/// head reads the state after the whole reply), or at the last token when the row fills the
/// width, and values count up to that position.
public struct PPOLoss: Codable, Equatable, Sendable {
  /// How the per-token KL to the reference is estimated from `logr = ref − logp`.
  public enum KLEstimator: String, Codable, Sendable, CaseIterable {
    /// `−logr` (TRL's default).
    case k1
    /// `exp(logr) − 1 − logr` (non-negative).
    case k3
  }

  /// An adaptive KL coefficient (Ziegler et al., TRL's `AdaptiveKLController`): after each
  /// rollout batch of `n` completions with mean summed KL `kl`, the coefficient is multiplied
  /// by `1 + clip(kl/target − 1, −0.2, 0.2)·n/horizon`.
  public struct AdaptiveKL: Codable, Equatable, Sendable {
    /// The KL per completion aimed at.
    public var target: Double
    /// The horizon, in completions.
    public var horizon: Double

    /// A controller.
    public init(target: Double, horizon: Double = 10_000) {
      self.target = target
      self.horizon = horizon
    }

    /// The coefficient after a rollout batch of `completions` whose mean summed KL was `kl`.
    public func updated(_ coefficient: Double, kl: Double, completions: Int) -> Double {
      let error = min(max(kl / target - 1, -0.2), 0.2)
      return coefficient * (1 + error * Double(completions) / horizon)
    }
  }

  /// The KL coefficient (the initial one when ``adaptiveKL`` is set).
  public var klCoefficient: Double
  /// The KL estimator of the penalty.
  public var klEstimator: KLEstimator
  /// Adapts the KL coefficient when set.
  public var adaptiveKL: AdaptiveKL?
  /// The ratio's clip range ε (`cliprange`).
  public var clipRange: Double
  /// The value's clip range around the rollout's values (`cliprange_value`).
  public var valueClipRange: Double
  /// Weight of the value loss (`vf_coef`).
  public var valueCoefficient: Double
  /// Discount γ.
  public var gamma: Double
  /// GAE's λ.
  public var lambda: Double
  /// Whitens the per-token rewards (without shifting their mean) before GAE.
  public var whitenRewards: Bool

  enum CodingKeys: String, CodingKey {
    case klCoefficient = "kl_coef"
    case klEstimator = "kl_estimator"
    case adaptiveKL = "adaptive_kl"
    case clipRange = "cliprange"
    case valueClipRange = "cliprange_value"
    case valueCoefficient = "vf_coef"
    case gamma, lambda = "lam"
    case whitenRewards = "whiten_rewards"
  }

  /// A loss with TRL's `PPOConfig` defaults.
  public init(
    klCoefficient: Double = 0.05, klEstimator: KLEstimator = .k1, adaptiveKL: AdaptiveKL? = nil,
    clipRange: Double = 0.2, valueClipRange: Double = 0.2, valueCoefficient: Double = 0.1,
    gamma: Double = 1, lambda: Double = 0.95, whitenRewards: Bool = false
  ) {
    self.klCoefficient = klCoefficient
    self.klEstimator = klEstimator
    self.adaptiveKL = adaptiveKL
    self.clipRange = clipRange
    self.valueClipRange = valueClipRange
    self.valueCoefficient = valueCoefficient
    self.gamma = gamma
    self.lambda = lambda
    self.whitenRewards = whitenRewards
  }

  // MARK: - Rollout figures

  /// TRL's `masked_whiten`: `(x − mean)/√(var + 1e-8)` over the masked entries, `var` with
  /// Bessel's correction; the mean added back when `shiftMean` is false. Entries outside the
  /// mask are transformed alike (callers zero them).
  public static func whitened(_ values: [Double], mask: [Bool], shiftMean: Bool = true)
    -> [Double]
  {
    precondition(values.count == mask.count, "PPOLoss.whitened: \(values.count) values")
    let count = Double(mask.filter { $0 }.count)
    var sum = 0.0
    for i in values.indices where mask[i] { sum += values[i] }
    let mean = sum / count
    var squares = 0.0
    for i in values.indices where mask[i] { squares += (values[i] - mean) * (values[i] - mean) }
    let variance = count > 1 ? squares / (count - 1) : 0
    let scale = 1 / (variance + 1e-8).squareRoot()
    return values.map { shiftMean ? ($0 - mean) * scale : ($0 - mean) * scale + mean }
  }

  /// The per-token KL estimates and rewards of a rollout batch: `−coef·kl` at every response
  /// token, plus the score at position `lengths[r]` (`lengths[r] − 1` when the row fills the
  /// width); whitened (``whitenRewards``) over positions `0…lengths[r]`, zero beyond.
  /// - Parameters:
  ///   - scores: one reward-model score per row.
  ///   - logProbabilities: the sampling policy's, `[rows·width]` (ignored past each length).
  ///   - reference: the reference's, likewise.
  ///   - lengths: tokens per completion, each in `1…width`.
  ///   - klCoefficient: the coefficient of this batch.
  public func tokenRewards(
    scores: [Double], logProbabilities: [Double], reference: [Double], lengths: [Int],
    width: Int, klCoefficient: Double
  ) -> (rewards: [Double], kl: [Double]) {
    let rows = scores.count
    precondition(
      lengths.count == rows && logProbabilities.count == rows * width
        && reference.count == rows * width && lengths.allSatisfy { $0 >= 1 && $0 <= width },
      "PPOLoss.tokenRewards: \(rows) scores, \(lengths) lengths, width \(width)")
    var kl = [Double](repeating: 0, count: rows * width)
    var rewards = kl
    for r in 0..<rows {
      for t in 0..<lengths[r] {
        let i = r * width + t
        let logr = reference[i] - logProbabilities[i]
        kl[i] = klEstimator == .k1 ? -logr : (exp(logr) - 1) - logr
        rewards[i] = -klCoefficient * kl[i]
      }
      let end = lengths[r] < width ? lengths[r] : lengths[r] - 1
      rewards[r * width + end] += scores[r]
    }
    if whitenRewards {
      let mask = Self.valueMask(lengths: lengths, width: width)
      rewards = zip(Self.whitened(rewards, mask: mask, shiftMean: false), mask).map {
        $1 ? $0 : 0
      }
    }
    return (rewards, kl)
  }

  /// Positions whose values count (TRL's `~padding_mask_p1`): `t ≤ lengths[r]`.
  public static func valueMask(lengths: [Int], width: Int) -> [Bool] {
    (0..<(lengths.count * width)).map { $0 % width <= lengths[$0 / width] }
  }

  /// Positions of response tokens (TRL's `~padding_mask`): `t < lengths[r]`.
  public static func tokenMask(lengths: [Int], width: Int) -> [Bool] {
    (0..<(lengths.count * width)).map { $0 % width < lengths[$0 / width] }
  }

  /// GAE over a rollout batch: `δₜ = rₜ + γ·Vₜ₊₁ − Vₜ`, `Aₜ = δₜ + γλ·Aₜ₊₁` (V past the width
  /// is 0, values past each row's ``valueMask(lengths:width:)`` are taken as 0), returns
  /// `A + V`, then the advantages whitened over the response tokens and zero elsewhere.
  public func advantagesAndReturns(
    rewards: [Double], values: [Double], lengths: [Int], width: Int
  ) -> (advantages: [Double], returns: [Double]) {
    let rows = lengths.count
    precondition(
      rewards.count == rows * width && values.count == rows * width,
      "PPOLoss.advantagesAndReturns: \(rewards.count) rewards, \(values.count) values")
    let valueMask = Self.valueMask(lengths: lengths, width: width)
    let values = zip(values, valueMask).map { $1 ? $0 : 0 }
    var advantages = [Double](repeating: 0, count: rows * width)
    for r in 0..<rows {
      var last = 0.0
      for t in stride(from: width - 1, through: 0, by: -1) {
        let i = r * width + t
        let next = t < width - 1 ? values[i + 1] : 0
        let delta = rewards[i] + gamma * next - values[i]
        last = delta + gamma * lambda * last
        advantages[i] = last
      }
    }
    let returns = zip(advantages, values).map { $0 + $1 }
    let tokens = Self.tokenMask(lengths: lengths, width: width)
    let whitened = zip(Self.whitened(advantages, mask: tokens), tokens).map { $1 ? $0 : 0 }
    return (whitened, returns)
  }

  // MARK: - The loss

  /// What the loss of one micro-batch gives.
  public struct Output {
    /// `policyLoss + vf_coef·valueLoss` (tracked when its inputs were).
    public var loss: Variable
    /// The clipped policy loss, mean over response tokens.
    public var policyLoss: Double
    /// The clipped value loss, `0.5·mean(max((V − R)², (Vclip − R)²))` over value positions.
    public var valueLoss: Double
    /// Response tokens whose ratio was clipped (TRL's `pg_clipfrac`).
    public var clipFraction: Double
    /// Value positions whose clipped loss was the larger (TRL's `vf_clipfrac`).
    public var valueClipFraction: Double
    /// `0.5·mean((logp − logp_old)²)` over response tokens.
    public var approximateKL: Double
  }

  /// The loss of a micro-batch, each array one entry per position.
  /// - Parameters:
  ///   - logProbabilities: the policy's log-probability of each position's token.
  ///   - old: the sampling policy's.
  ///   - advantages: whitened advantages.
  ///   - tokenMask: 1 at response tokens, 0 elsewhere.
  ///   - values: the value head's prediction at each position.
  ///   - oldValues: the rollout's values.
  ///   - returns: the rollout's returns.
  ///   - valueMask: 1 where values count, 0 elsewhere.
  public func callAsFunction(
    logProbabilities: Variable, old: [Float], advantages: [Float], tokenMask: [Float],
    values: Variable, oldValues: [Float], returns: [Float], valueMask: [Float]
  ) -> Output {
    let n = logProbabilities.count
    let m = values.count
    precondition(
      old.count == n && advantages.count == n && tokenMask.count == n && oldValues.count == m
        && returns.count == m && valueMask.count == m,
      "PPOLoss: \(n) log-probabilities, \(m) values and mismatched rollout arrays")
    let logp = logProbabilities.value.scalars
    let v = values.value.scalars
    let tokens = max(1, tokenMask.reduce(0) { $0 + Double($1) })
    let valueCount = max(1, valueMask.reduce(0) { $0 + Double($1) })

    var policyLoss = 0.0
    var clipped = 0.0
    var squaredDifference = 0.0
    var policyGradient = [Float](repeating: 0, count: n)
    for i in 0..<n where tokenMask[i] != 0 {
      let a = Double(advantages[i])
      let difference = Double(logp[i]) - Double(old[i])
      let ratio = exp(difference)
      let loss1 = -a * ratio
      let loss2 = -a * min(max(ratio, 1 - clipRange), 1 + clipRange)
      policyLoss += max(loss1, loss2)
      if loss2 > loss1 { clipped += 1 }
      squaredDifference += difference * difference
      // torch.max sends the gradient to the larger side (half to each on a tie, and clamp
      // passes it through inside its range, so a tie gives the whole −a·ratio).
      let derivative = loss1 >= loss2 ? -a * ratio : 0
      policyGradient[i] = Float(derivative / tokens)
    }

    var valueLoss = 0.0
    var valueClipped = 0.0
    var valueGradient = [Float](repeating: 0, count: m)
    for i in 0..<m where valueMask[i] != 0 {
      let prediction = Double(v[i])
      let target = Double(returns[i])
      let low = Double(oldValues[i]) - valueClipRange
      let high = Double(oldValues[i]) + valueClipRange
      let bounded = min(max(prediction, low), high)
      let inside = prediction >= low && prediction <= high
      let loss1 = (prediction - target) * (prediction - target)
      let loss2 = (bounded - target) * (bounded - target)
      valueLoss += max(loss1, loss2)
      if loss2 > loss1 { valueClipped += 1 }
      let derivative1 = 2 * (prediction - target)
      let derivative2 = inside ? 2 * (bounded - target) : 0
      let derivative =
        loss1 > loss2 ? derivative1 : loss2 > loss1 ? derivative2 : (derivative1 + derivative2) / 2
      valueGradient[i] = Float(valueCoefficient * 0.5 * derivative / valueCount)
    }
    policyLoss /= tokens
    valueLoss = 0.5 * valueLoss / valueCount
    let total = policyLoss + valueCoefficient * valueLoss
    let localPolicy = Tensor(policyGradient, shape: logProbabilities.shape)
    let localValue = Tensor(valueGradient, shape: values.shape)
    let loss = Variable.operation(
      inputs: [logProbabilities, values], value: Tensor([Float(total)], shape: [])
    ) { dy in [localPolicy * dy.item, localValue * dy.item] }
    return Output(
      loss: loss, policyLoss: policyLoss, valueLoss: valueLoss, clipFraction: clipped / tokens,
      valueClipFraction: valueClipped / valueCount,
      approximateKL: 0.5 * squaredDifference / tokens)
  }
}
