import MiniAutograd
import MiniLlama
import MiniTensor

#if canImport(Glibc)
  import Glibc
#endif

/// A group of rollouts ready for a GRPO step: each row is a prompt followed by one sampled
/// completion, right-padded to the widest row; only completion tokens are targets.
public struct GRPOBatch: Codable, Sendable, Equatable {
  /// Padded rows, `[rows·width]`.
  public var tokens: [Int32]
  /// Rows (completions).
  public var rows: Int
  /// Positions per row.
  public var width: Int
  /// The token each position predicts, or ``ignoreIndex`` outside the completions.
  public var targets: [Int32]
  /// One group-normalised advantage per row.
  public var advantages: [Float]
  /// The reference's per-position log-probabilities (`nil` without a KL term).
  public var reference: [Float]?
  /// The sampling policy's per-position log-probabilities, kept when the batch serves several
  /// steps (`nil`: the policy's own values, detached).
  public var old: [Float]?
  /// The rows' rewards.
  public var rewards: [Double]
  /// Completion tokens per row.
  public var completionLengths: [Int]

  /// The target of positions that are not scored.
  public static let ignoreIndex: Int32 = -100

  /// Rows of `prompts[i] + completions[i]` padded with `padding`, each completion token a
  /// target of the position before it.
  /// - Precondition: every completion is non-empty and every row fits `maxLength`.
  public init(
    prompts: [[Int32]], completions: [[Int32]], rewards: [Double], advantages: [Double],
    padding: Int32
  ) {
    precondition(
      prompts.count == completions.count && rewards.count == prompts.count
        && advantages.count == prompts.count && !prompts.isEmpty,
      "GRPOBatch: \(prompts.count) prompts, \(completions.count) completions")
    rows = prompts.count
    width = zip(prompts, completions).map { $0.count + $1.count }.max()!
    tokens = [Int32](repeating: padding, count: rows * width)
    targets = [Int32](repeating: Self.ignoreIndex, count: rows * width)
    for r in 0..<rows {
      let row = prompts[r] + completions[r]
      for (t, token) in row.enumerated() { tokens[r * width + t] = token }
      for t in prompts[r].count..<row.count { targets[r * width + t - 1] = row[t] }
    }
    self.advantages = advantages.map(Float.init)
    self.rewards = rewards
    completionLengths = completions.map(\.count)
    reference = nil
  }

  /// 1 at completion targets, 0 elsewhere.
  public var mask: [Float] { targets.map { $0 == Self.ignoreIndex ? 0 : 1 } }
}

extension Llama {
  /// The log-probability of each target of `batch` (0 elsewhere), `[rows·width]`, from logits
  /// divided by `temperature` as TRL's `GRPOTrainer` computes them.
  public func completionLogProbabilities(
    _ batch: GRPOBatch, temperature: Float, tape: Tape? = nil
  ) -> (logProbabilities: Variable, logits: Variable) {
    let logits = self(batch.tokens, batch: batch.rows, tape: tape).reshaped([
      batch.rows * batch.width, config.vocabSize,
    ])
    let scaled = temperature == 1 ? logits : logits * (1 / temperature)
    return (
      tokenLogProbabilities(
        logits: scaled, targets: batch.targets, ignoreIndex: GRPOBatch.ignoreIndex),
      scaled
    )
  }
}

/// The GRPO loss (``GRPOLoss``) of a policy on rollout batches, with figures as TRL logs them:
/// `reward_mean`, `reward_std`, `kl`, `entropy` (of the temperature-scaled next-token
/// distribution, mean over completion tokens), `clip_fraction`, `response_length`,
/// `advantage_mean`, `advantage_std`, `advantage_max`.
public struct GRPOObjective: TrainingObjective {
  /// The model trained.
  public let policy: Llama
  /// The loss.
  public let criterion: GRPOLoss
  /// The sampling temperature (logits are divided by it).
  public let temperature: Float

  /// The objective of `policy`.
  public init(policy: Llama, criterion: GRPOLoss, temperature: Float) {
    self.policy = policy
    self.criterion = criterion
    self.temperature = temperature
  }

  public func loss(on batch: GRPOBatch, tape: Tape?) throws -> ObjectiveOutput {
    let (logp, logits) = policy.completionLogProbabilities(
      batch, temperature: temperature, tape: tape)
    let mask = batch.mask
    let output = criterion(
      logProbabilities: logp, old: batch.old,
      reference: criterion.beta == 0 ? nil : batch.reference, mask: mask,
      advantages: batch.advantages)
    let n = Double(batch.rows)
    let meanReward = batch.rewards.reduce(0, +) / n
    let advantages = batch.advantages.map(Double.init)
    let meanAdvantage = advantages.reduce(0, +) / n
    func std(_ xs: [Double], _ mean: Double) -> Double {
      (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(1, n - 1)).squareRoot()
    }
    return ObjectiveOutput(
      loss: output.loss,
      metrics: [
        "reward_mean": meanReward, "reward_std": std(batch.rewards, meanReward),
        "kl": output.kl, "clip_fraction": output.clipFraction,
        "entropy": meanEntropy(
          logits: logits.value, mask: mask, vocabulary: policy.config.vocabSize),
        "response_length": Double(batch.completionLengths.reduce(0, +)) / n,
        "advantage_mean": meanAdvantage, "advantage_std": std(advantages, meanAdvantage),
        "advantage_max": advantages.max() ?? 0,
      ])
  }

  /// Completions (``GRPOLoss/Normalization/sequence``) or completion tokens
  /// (``GRPOLoss/Normalization/token``).
  public func weight(of batch: GRPOBatch) -> Double {
    criterion.normalization == .sequence
      ? Double(batch.rows) : Double(batch.completionLengths.reduce(0, +))
  }

  public func tokenCount(of batch: GRPOBatch) -> Int { batch.rows * batch.width }
}
