import MiniAutograd
import MiniLlama
import MiniTensor

/// Masked next-token cross-entropy of a ``Llama`` on ``SFTBatch``es: the mean over the
/// supervised positions (the assistant's tokens and their end-of-turn token), as in
/// baby-llama2-chinese's SFT and transformers' `labels = -100` convention.
///
/// ``weight(of:)`` is the batch's supervised-token count, so with gradient accumulation the
/// step's loss and gradient are those of the mean over every supervised token of the step. A
/// micro-batch with no supervised token has loss 0, a zero gradient and weight 0: it changes
/// nothing, and never gives NaN.
///
/// Besides `loss`, each step logs the counts `supervised_tokens` and `padding_tokens`.
public struct SupervisedFineTuningObjective: TrainingObjective {
  /// The model.
  public let model: Llama

  /// The objective for `model`.
  public init(model: Llama) { self.model = model }

  /// Mean cross-entropy over the supervised positions of `batch`.
  public func loss(on batch: SFTBatch, tape: Tape?) -> ObjectiveOutput {
    let logits = model(batch.inputs, batch: batch.rows, tape: tape)
    let loss = crossEntropy(
      logits: logits.reshaped([batch.rows * batch.width, model.config.vocabSize]),
      targets: batch.targets, ignoreIndex: SFTBatch.ignoredTarget)
    return ObjectiveOutput(
      loss: loss,
      counts: [
        "supervised_tokens": Double(batch.supervisedCount),
        "padding_tokens": Double(batch.paddingCount),
      ])
  }

  /// Supervised positions.
  public func weight(of batch: SFTBatch) -> Double { Double(batch.supervisedCount) }

  /// Positions holding a real token (padding excluded).
  public func tokenCount(of batch: SFTBatch) -> Int { batch.tokenCount }
}
