import MiniAutograd
import MiniLlama
import MiniTensor

#if canImport(Glibc)
  import Glibc
#endif

/// One sampled completion of a PPO rollout batch with what the rollout computed for it; kept
/// (in the loader's checkpointed cursor) until the batch's PPO epochs are done.
public struct PPORolloutRow: Codable, Sendable, Equatable {
  /// The prompt's ids.
  public var prompt: [Int32]
  /// The completion's ids.
  public var completion: [Int32]
  /// The sampling policy's log-probability of each completion token.
  public var logProbabilities: [Float]
  /// The whitened advantage of each completion token.
  public var advantages: [Float]
  /// The rollout's values at the value positions (the completion's tokens, then the state after
  /// the last token unless the completion fills the batch's width).
  public var values: [Float]
  /// The returns at the same positions.
  public var returns: [Float]
  /// The reward model's score.
  public var score: Double
  /// The KL estimate to the reference summed over the completion.
  public var kl: Double
  /// The KL coefficient of the rollout.
  public var klCoefficient: Double

  /// A row.
  public init(
    prompt: [Int32], completion: [Int32], logProbabilities: [Float], advantages: [Float],
    values: [Float], returns: [Float], score: Double, kl: Double, klCoefficient: Double
  ) {
    self.prompt = prompt
    self.completion = completion
    self.logProbabilities = logProbabilities
    self.advantages = advantages
    self.values = values
    self.returns = returns
    self.score = score
    self.kl = kl
    self.klCoefficient = klCoefficient
  }

  enum CodingKeys: String, CodingKey {
    case prompt, completion, advantages, values, returns, score, kl
    case logProbabilities = "logprobs"
    case klCoefficient = "kl_coef"
  }
}

/// Rows of a PPO micro-batch: each a prompt followed by its completion, right-padded; the
/// rollout's figures laid out by position. The token of completion position `t` is predicted
/// at row position `prompt + t − 1`, where its value is read too.
public struct PPOBatch {
  /// Padded rows, `[rows·width]`.
  public var tokens: [Int32]
  /// Rows (completions).
  public var rows: Int
  /// Positions per row.
  public var width: Int
  /// The token each position predicts, or ``GRPOBatch/ignoreIndex`` outside the completions.
  public var targets: [Int32]
  /// The sampling policy's log-probabilities of the targets (0 elsewhere).
  public var old: [Float]
  /// The advantages of the targets (0 elsewhere).
  public var advantages: [Float]
  /// 1 where a value counts.
  public var valueMask: [Float]
  /// The rollout's values there.
  public var oldValues: [Float]
  /// The returns there.
  public var returns: [Float]
  /// The rows as the rollout kept them.
  public var source: [PPORolloutRow]

  /// A micro-batch of `rows` padded with `padding`.
  public init(_ rows: [PPORolloutRow], padding: Int32) {
    precondition(!rows.isEmpty, "PPOBatch: no rows")
    self.rows = rows.count
    width = rows.map { $0.prompt.count + $0.completion.count }.max()!
    let count = rows.count * width
    tokens = [Int32](repeating: padding, count: count)
    targets = [Int32](repeating: GRPOBatch.ignoreIndex, count: count)
    old = [Float](repeating: 0, count: count)
    advantages = old
    valueMask = old
    oldValues = old
    returns = old
    for (r, row) in rows.enumerated() {
      let base = r * width
      let start = base + row.prompt.count - 1
      for (t, token) in (row.prompt + row.completion).enumerated() { tokens[base + t] = token }
      for t in row.completion.indices {
        targets[start + t] = row.completion[t]
        old[start + t] = row.logProbabilities[t]
        advantages[start + t] = row.advantages[t]
      }
      for t in row.values.indices {
        valueMask[start + t] = 1
        oldValues[start + t] = row.values[t]
        returns[start + t] = row.returns[t]
      }
    }
    source = rows
  }

  /// 1 at completion targets, 0 elsewhere.
  public var tokenMask: [Float] { targets.map { $0 == GRPOBatch.ignoreIndex ? 0 : 1 } }
}

/// The mean entropy (nats) of the distributions `softmax(logits)` at the rows where `mask` is
/// not 0.
func meanEntropy(logits: Tensor, mask: [Float], vocabulary: Int) -> Double {
  let values = logits.contiguous().scalars
  var entropy = 0.0
  var count = 0.0
  for i in mask.indices where mask[i] != 0 {
    let row = values[(i * vocabulary)..<((i + 1) * vocabulary)]
    let top = Double(row.max()!)
    var total = 0.0
    var weighted = 0.0
    for v in row {
      let e = exp(Double(v) - top)
      total += e
      weighted += e * (Double(v) - top)
    }
    entropy += log(total) - weighted / total
    count += 1
  }
  return count > 0 ? entropy / count : 0
}

/// The PPO loss (``PPOLoss``) of a policy with a value head on rollout micro-batches, with
/// figures: `reward_mean` (the reward model's score), `reward_std`, `kl` (the estimate to the
/// reference per completion token, at sampling), `kl_coef`, `entropy`, `clip_fraction`,
/// `value_loss`, `policy_loss`, `value_clip_fraction`, `approx_kl`, `response_length`,
/// `advantage_mean`, `advantage_std`, `advantage_max` (over completion tokens, whitened over
/// the rollout batch), `return_mean`, `value_mean`.
public struct PPOObjective: TrainingObjective {
  /// The model trained.
  public let policy: PPOPolicy
  /// The loss.
  public let criterion: PPOLoss
  /// The sampling temperature (logits are divided by it).
  public let temperature: Float

  /// The objective of `policy`.
  public init(policy: PPOPolicy, criterion: PPOLoss, temperature: Float) {
    self.policy = policy
    self.criterion = criterion
    self.temperature = temperature
  }

  public func loss(on batch: PPOBatch, tape: Tape?) throws -> ObjectiveOutput {
    let (logits, values) = policy(
      batch.tokens, rows: batch.rows, temperature: temperature, tape: tape)
    let logp = tokenLogProbabilities(
      logits: logits, targets: batch.targets, ignoreIndex: GRPOBatch.ignoreIndex)
    let mask = batch.tokenMask
    let output = criterion(
      logProbabilities: logp, old: batch.old, advantages: batch.advantages, tokenMask: mask,
      values: values, oldValues: batch.oldValues, returns: batch.returns,
      valueMask: batch.valueMask)
    let rows = batch.source
    let n = Double(rows.count)
    let scores = rows.map(\.score)
    let meanScore = scores.reduce(0, +) / n
    let tokens = Double(rows.reduce(0) { $0 + $1.completion.count })
    let advantages = rows.flatMap(\.advantages).map(Double.init)
    let meanAdvantage = advantages.reduce(0, +) / tokens
    func std(_ xs: [Double], _ mean: Double) -> Double {
      (xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / max(1, Double(xs.count - 1)))
        .squareRoot()
    }
    let returns = rows.flatMap(\.returns).map(Double.init)
    let oldValues = rows.flatMap(\.values).map(Double.init)
    return ObjectiveOutput(
      loss: output.loss,
      metrics: [
        "reward_mean": meanScore, "reward_std": std(scores, meanScore),
        "kl": rows.reduce(0) { $0 + $1.kl } / tokens, "kl_coef": rows[0].klCoefficient,
        "entropy": meanEntropy(
          logits: logits.value, mask: mask, vocabulary: policy.config.vocabSize),
        "clip_fraction": output.clipFraction, "value_clip_fraction": output.valueClipFraction,
        "policy_loss": output.policyLoss, "value_loss": output.valueLoss,
        "approx_kl": output.approximateKL, "response_length": tokens / n,
        "advantage_mean": meanAdvantage, "advantage_std": std(advantages, meanAdvantage),
        "advantage_max": advantages.max() ?? 0,
        "return_mean": returns.reduce(0, +) / Double(returns.count),
        "value_mean": oldValues.reduce(0, +) / Double(oldValues.count),
      ])
  }

  /// Micro-batches count alike (TRL averages their losses).
  public func weight(of batch: PPOBatch) -> Double { 1 }

  public func tokenCount(of batch: PPOBatch) -> Int { batch.rows * batch.width }
}
