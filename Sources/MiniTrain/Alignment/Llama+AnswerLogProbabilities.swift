import MiniAutograd
import MiniLlama
import MiniTensor

extension Llama {
  /// The log-likelihood of each row's reply given its prompt: the sum over the reply's tokens
  /// (its end-of-turn token included) of `log p(token | everything before it)`, `[2P]`, chosen
  /// rows first. One forward over the padded batch; pads are never scored.
  /// - Parameters:
  ///   - batch: the pairs.
  ///   - tape: records for training when given.
  public func answerLogProbabilities(_ batch: PreferenceBatch, tape: Tape? = nil) -> Variable {
    precondition(
      batch.sequenceLength <= config.maxPositions,
      "answerLogProbabilities: rows of \(batch.sequenceLength) tokens exceed "
        + "max_position_embeddings \(config.maxPositions)")
    let logits = self(batch.tokens, batch: batch.rows, tape: tape)
    let perToken = tokenLogProbabilities(
      logits: logits.reshaped([batch.rows * batch.sequenceLength, config.vocabSize]),
      targets: batch.targets, ignoreIndex: PreferenceBatch.ignoreIndex)
    return perToken.reshaped([batch.rows, batch.sequenceLength]).sum(axis: 1)
  }
}
