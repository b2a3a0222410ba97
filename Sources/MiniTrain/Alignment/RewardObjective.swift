import MiniAutograd
import MiniTensor

/// The pairwise (Bradley–Terry) loss of a reward model: the mean over pairs of
/// `−log σ(r_chosen − r_rejected)`, as one tape node.
/// - Parameter rewards: `[2P]`, the chosen rows' rewards first.
/// - Returns: the scalar loss.
public func pairwiseRewardLoss(_ rewards: Variable) -> Variable {
  let rows = rewards.count
  precondition(
    rows > 0 && rows % 2 == 0 && rewards.shape == [rows],
    "pairwiseRewardLoss: rewards \(rewards.shape), expected [2·pairs]")
  let pairs = rows / 2
  let values = rewards.value.scalars
  let differences = (0..<pairs).map { Double(values[$0]) - Double(values[pairs + $0]) }
  let mean = differences.map { -stableLogSigmoid($0) }.reduce(0, +) / Double(pairs)
  return Variable.operation(inputs: [rewards], value: Tensor(Float(mean))) { dLoss in
    let g = Double(dLoss.item) / Double(pairs)
    var gradient = [Float](repeating: 0, count: rows)
    for p in 0..<pairs {
      // d/dΔ −log σ(Δ) = −σ(−Δ).
      let slope = -stableSigmoid(-differences[p]) * g
      gradient[p] = Float(slope)
      gradient[pairs + p] = Float(-slope)
    }
    return [Tensor(gradient, shape: [rows])]
  }
}

/// Trains a ``RewardModel`` on preference pairs with ``pairwiseRewardLoss(_:)``.
///
/// Metrics per batch: `accuracy` (fraction of pairs whose chosen reply gets the higher reward),
/// `margin` (mean `r_chosen − r_rejected`), `chosen_reward` and `rejected_reward` (means).
/// Each pair weighs the same.
public struct RewardObjective: TrainingObjective {
  /// The model.
  public let model: RewardModel

  /// The objective for `model`.
  public init(model: RewardModel) { self.model = model }

  /// The mean pairwise loss of the batch.
  public func loss(on batch: PreferenceBatch, tape: Tape?) -> ObjectiveOutput {
    let rewards = model.rewards(batch, tape: tape)
    let values = rewards.value.scalars.map(Double.init)
    let pairs = batch.pairCount
    var wins = 0
    var margin = 0.0
    for p in 0..<pairs {
      if values[p] > values[pairs + p] { wins += 1 }
      margin += values[p] - values[pairs + p]
    }
    let count = Double(pairs)
    return ObjectiveOutput(
      loss: pairwiseRewardLoss(rewards),
      metrics: [
        "accuracy": Double(wins) / count, "margin": margin / count,
        "chosen_reward": values[..<pairs].reduce(0, +) / count,
        "rejected_reward": values[pairs...].reduce(0, +) / count,
      ])
  }

  /// Pairs.
  public func weight(of batch: PreferenceBatch) -> Double { Double(batch.pairCount) }

  /// Non-pad tokens of both rows of every pair.
  public func tokenCount(of batch: PreferenceBatch) -> Int { batch.tokenCount }
}
