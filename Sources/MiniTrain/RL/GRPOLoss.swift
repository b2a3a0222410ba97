import MiniAutograd
import MiniTensor

#if canImport(Glibc)
  import Glibc
#endif

/// The GRPO objective of DeepSeekMath as TRL's `GRPOTrainer` computes it, on per-token
/// log-probabilities of sampled completions.
///
/// With `c = exp(logp − logp_old)` the ratio to the sampling policy, `A` the completion's
/// group-normalised advantage and `ref` the frozen reference's log-probability, each completion
/// token costs
///
///     ℓ = −min(c·A, clamp(c, 1 − ε_low, 1 + ε_high)·A) + β·(exp(ref − logp) − (ref − logp) − 1)
///
/// (the KL term is the k3 estimator). ``Normalization/sequence`` (TRL's `loss_type="grpo"`)
/// averages ℓ over each completion's tokens, then over completions;
/// ``Normalization/token`` (TRL's `"bnpo"`) averages over every completion token of the batch.
public struct GRPOLoss: Codable, Equatable, Sendable {
  /// How per-token costs are averaged.
  public enum Normalization: String, Codable, Sendable, CaseIterable {
    /// Mean over each completion's tokens, then over completions (TRL's `grpo`).
    case sequence = "grpo"
    /// Mean over every completion token of the batch (TRL's `bnpo`).
    case token = "bnpo"
  }

  /// The KL coefficient β (0: no reference term).
  public var beta: Double
  /// The ratio's lower clip, ε_low.
  public var epsilonLow: Double
  /// The ratio's upper clip, ε_high.
  public var epsilonHigh: Double
  /// How per-token costs are averaged.
  public var normalization: Normalization

  enum CodingKeys: String, CodingKey {
    case beta = "kl_coef"
    case epsilonLow = "clip_eps_low"
    case epsilonHigh = "clip_eps_high"
    case normalization = "loss_type"
  }

  /// A loss; TRL's defaults are β 0.04 (older releases) and ε 0.2 on both sides.
  public init(
    beta: Double = 0.04, epsilonLow: Double = 0.2, epsilonHigh: Double? = nil,
    normalization: Normalization = .sequence
  ) {
    self.beta = beta
    self.epsilonLow = epsilonLow
    self.epsilonHigh = epsilonHigh ?? epsilonLow
    self.normalization = normalization
  }

  /// Group-normalised advantages as TRL computes them: `(r − mean) / (std + 1e-4)` within each
  /// group of `groupSize` consecutive rewards, `std` with Bessel's correction (torch's
  /// default); with `scale` false, `r − mean` only (Dr. GRPO).
  /// - Precondition: `rewards.count` is a multiple of `groupSize`.
  public static func advantages(rewards: [Double], groupSize: Int, scale: Bool = true)
    -> [Double]
  {
    precondition(
      groupSize > 0 && rewards.count % groupSize == 0,
      "GRPOLoss.advantages: \(rewards.count) rewards in groups of \(groupSize)")
    var result: [Double] = []
    result.reserveCapacity(rewards.count)
    for start in stride(from: 0, to: rewards.count, by: groupSize) {
      let group = rewards[start..<start + groupSize]
      let mean = group.reduce(0, +) / Double(groupSize)
      let variance =
        groupSize > 1
        ? group.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(groupSize - 1) : .nan
      let std = variance.squareRoot()
      for reward in group {
        result.append(scale ? (reward - mean) / (std.isNaN ? 1e-4 : std + 1e-4) : reward - mean)
      }
    }
    return result
  }

  /// What the loss of one batch gives.
  public struct Output {
    /// The scalar loss (tracked when the log-probabilities were).
    public var loss: Variable
    /// The k3 estimate of KL(policy ‖ reference), mean over completion tokens (0 without a
    /// reference).
    public var kl: Double
    /// Completion tokens whose ratio was clipped (below 1 − ε_low with A < 0, or above
    /// 1 + ε_high with A > 0), as a fraction of completion tokens.
    public var clipFraction: Double
    /// Completion tokens counted.
    public var tokens: Int
  }

  /// The loss over `rows` completions laid out as rows of equal width.
  /// - Parameters:
  ///   - logProbabilities: the policy's log-probability of each position's token, `[rows·width]`.
  ///   - old: the sampling policy's (the same values, detached, when each rollout is used for one
  ///     step, as TRL's default); `nil` means `logProbabilities`' own values.
  ///   - reference: the frozen reference's, or `nil` when β is 0.
  ///   - mask: 1 at completion tokens, 0 elsewhere, `[rows·width]`.
  ///   - advantages: one per row.
  public func callAsFunction(
    logProbabilities: Variable, old: [Float]? = nil, reference: [Float]?, mask: [Float],
    advantages: [Float]
  ) -> Output {
    let count = logProbabilities.count
    let rows = advantages.count
    precondition(
      rows > 0 && count % rows == 0 && mask.count == count,
      "GRPOLoss: \(count) log-probabilities, \(mask.count) mask values, \(rows) rows")
    precondition(old == nil || old!.count == count, "GRPOLoss: old log-probabilities")
    precondition(reference == nil || reference!.count == count, "GRPOLoss: reference")
    precondition(beta == 0 || reference != nil, "GRPOLoss: β \(beta) needs a reference")
    let width = count / rows
    let logp = logProbabilities.value.scalars
    let old = old ?? logp
    // Per-token weight of the mean.
    var weights = [Double](repeating: 0, count: count)
    let total = mask.reduce(0) { $0 + Double($1) }
    for r in 0..<rows {
      let length = (0..<width).reduce(0.0) { $0 + Double(mask[r * width + $1]) }
      for t in 0..<width {
        let i = r * width + t
        weights[i] =
          normalization == .sequence
          ? Double(mask[i]) / (Double(rows) * max(length, 1)) : Double(mask[i]) / max(total, 1)
      }
    }
    var value = 0.0
    var klSum = 0.0
    var clipped = 0.0
    var gradient = [Float](repeating: 0, count: count)
    for i in 0..<count where mask[i] != 0 {
      let a = Double(advantages[i / width])
      let ratio = exp(Double(logp[i]) - Double(old[i]))
      let bounded = min(max(ratio, 1 - epsilonLow), 1 + epsilonHigh)
      let unclipped = ratio * a
      let clippedValue = bounded * a
      var cost = -min(unclipped, clippedValue)
      // torch.min sends the gradient to the smaller side (half to each on a tie, which
      // clamp passes through inside its range): the clipped side carries none.
      var derivative = unclipped > clippedValue ? 0 : -a * ratio
      if (ratio < 1 - epsilonLow && a < 0) || (ratio > 1 + epsilonHigh && a > 0) {
        clipped += Double(mask[i])
      }
      if let reference, beta != 0 {
        let delta = Double(reference[i]) - Double(logp[i])
        let k3 = exp(delta) - delta - 1
        klSum += k3 * Double(mask[i])
        cost += beta * k3
        derivative += beta * (1 - exp(delta))
      }
      value += weights[i] * cost
      gradient[i] = Float(weights[i] * derivative)
    }
    let shape = logProbabilities.shape
    let local = Tensor(gradient, shape: shape)
    let loss = Variable.operation(
      inputs: [logProbabilities], value: Tensor([Float(value)], shape: [])
    ) { dy in [local * dy.item] }
    return Output(
      loss: loss, kl: total > 0 ? klSum / total : 0, clipFraction: total > 0 ? clipped / total : 0,
      tokens: Int(total))
  }
}
