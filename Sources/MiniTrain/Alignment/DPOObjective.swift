import MiniAutograd
import MiniLlama
import MiniTensor

/// Direct preference optimisation of a ``MiniLlama/Llama`` policy against a frozen reference
/// (the SFT model): ``DPOLoss`` over each pair's reply log-likelihoods (sums over the reply's
/// tokens and its end token).
///
/// ```swift
/// let policy = try Llama(directory: "sft/model")
/// let reference = try Llama(directory: "sft/model")
/// let objective = DPOObjective(policy: policy, reference: .model(reference), criterion: DPOLoss(beta: 0.1))
/// ```
///
/// Metrics per batch (averaged by the trainer): `chosen_reward`, `rejected_reward`,
/// `reward_accuracy`, `margin`, `chosen_logp`, `rejected_logp` (see ``DPOLossOutput/metrics``).
/// Each pair weighs the same: ``weight(of:)`` is the number of pairs.
public struct DPOObjective: TrainingObjective {
  /// Where the reference log-likelihoods come from.
  public enum Reference {
    /// A forward of this (frozen) model on every batch.
    case model(Llama)
    /// Values computed once per pair (see ``ReferenceLogProbabilities/compute(model:pairs:batchSize:identity:progress:)``).
    case cached(ReferenceLogProbabilities)
  }

  /// The model being trained.
  public let policy: Llama
  /// The frozen reference.
  public let reference: Reference
  /// The loss.
  public let criterion: DPOLoss

  /// The objective training `policy` against `reference`.
  /// - Precondition: `criterion` is valid; a reference model has the policy's vocabulary.
  public init(policy: Llama, reference: Reference, criterion: DPOLoss = DPOLoss()) {
    precondition((try? criterion.validate()) != nil, "DPOObjective: invalid loss \(criterion)")
    if case .model(let model) = reference {
      precondition(
        model.config.vocabSize == policy.config.vocabSize,
        "DPOObjective: reference vocabulary \(model.config.vocabSize), policy "
          + "\(policy.config.vocabSize)")
      precondition(model !== policy, "DPOObjective: the reference must be a separate model")
    }
    self.policy = policy
    self.reference = reference
    self.criterion = criterion
  }

  /// The reference's summed reply log-likelihoods of `batch` (`[2P]`, chosen rows first).
  /// - Throws: ``DataLoaderError`` when a cached value is missing.
  public func referenceScores(_ batch: PreferenceBatch) throws -> [Float] {
    switch reference {
    case .model(let model): model.answerLogProbabilities(batch).value.scalars
    case .cached(let cache): try cache.scores(for: batch)
    }
  }

  /// The mean DPO loss over the batch's pairs, with the reward metrics.
  /// - Throws: ``DataLoaderError`` when a cached reference value is missing.
  public func loss(on batch: PreferenceBatch, tape: Tape?) throws -> ObjectiveOutput {
    let referenceValues = try referenceScores(batch)
    let scores = policy.answerLogProbabilities(batch, tape: tape)
    let output = criterion(
      policy: scores, reference: referenceValues, answerLengths: batch.answerLengths)
    return ObjectiveOutput(loss: output.loss, metrics: output.metrics)
  }

  /// Pairs.
  public func weight(of batch: PreferenceBatch) -> Double { Double(batch.pairCount) }

  /// Non-pad tokens of both rows of every pair.
  public func tokenCount(of batch: PreferenceBatch) -> Int { batch.tokenCount }
}
