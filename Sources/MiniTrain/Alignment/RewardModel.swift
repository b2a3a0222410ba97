import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor

/// A reward model as `transformers`' `LlamaForSequenceClassification` with one label: the Llama
/// decoder (no language-model head) and a scalar head `score` (`Linear(hidden, 1)`, no bias)
/// applied to the final hidden state of each sequence's last token.
///
/// The head lives in the trunk's arena (after the decoder's weights), so one optimizer trains
/// both. ``save(to:)`` writes a directory that `LlamaForSequenceClassification.from_pretrained`
/// loads as it is: `config.json` with `architectures: ["LlamaForSequenceClassification"]` and
/// `num_labels: 1`, and `model.safetensors` holding the `model.*` weights and `score.weight`
/// (`[1, hidden]`).
public final class RewardModel: TrainableModel {
  /// The name of the head's weight.
  public static let headName = "score.weight"
  /// The architecture name written to `config.json`.
  public static let architecture = "LlamaForSequenceClassification"

  /// The decoder (without `lm_head`); its arena also holds the head.
  public let trunk: Llama
  /// The head, `[1, hidden]`.
  public let score: Parameter

  /// A model with fresh weights: the trunk as `Llama(config:seed:)` initialises it, the head
  /// normal(0, `initializerRange`) as `transformers` does.
  public init(config: LlamaConfig, seed: UInt64 = 0) {
    trunk = Llama(
      config: config, seed: seed, languageModelHead: false,
      additionalParameters: [
        Llama.AdditionalParameter(
          name: Self.headName, shape: [1, config.hiddenSize],
          initializer: .normal(standardDeviation: config.initializerRange))
      ])
    score = trunk.arena.parameter(named: Self.headName)!
  }

  /// A reward model over an existing trunk and head, such as a trunk with LoRA adapters and a
  /// head that trains beside them in the adapters' arena (``FineTuneRewardModel``).
  /// - Precondition: `score` is `[1, hiddenSize]`.
  public init(trunk: Llama, score: Parameter) {
    precondition(
      score.shape == [1, trunk.config.hiddenSize],
      "RewardModel: head \(score.shape) for hidden size \(trunk.config.hiddenSize)")
    self.trunk = trunk
    self.score = score
  }

  /// The architecture.
  public var config: LlamaConfig { trunk.config }

  /// Every weight, contiguous.
  public var arena: ParameterArena { trunk.arena }

  /// Visits the decoder's weights, then the head.
  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    for parameter in arena.parameters { try visitor(parameter) }
  }

  /// The reward of each row: the head applied to the final hidden state at `lastPositions`.
  /// - Parameters:
  ///   - tokens: `rows × T` ids, row-major (right-padded).
  ///   - rows: number of sequences.
  ///   - lastPositions: per row, the flat index `row · T + t` of its last token.
  ///   - tape: records for training when given.
  /// - Returns: `[rows]`.
  public func rewards(
    _ tokens: [Int32], rows: Int, lastPositions: [Int32], tape: Tape? = nil
  ) -> Variable {
    precondition(
      rows > 0 && tokens.count % rows == 0 && lastPositions.count == rows,
      "RewardModel: \(tokens.count) tokens in \(rows) rows with \(lastPositions.count) positions")
    let width = tokens.count / rows
    for (row, position) in lastPositions.enumerated() {
      precondition(
        Int(position) >= row * width && Int(position) < (row + 1) * width,
        "RewardModel: position \(position) is outside row \(row) of width \(width)")
    }
    let hidden = trunk.hiddenStates(tokens, batch: rows, tape: tape)
      .reshaped([rows * width, config.hiddenSize])
    let last = embedding(hidden, ids: lastPositions)
    return linear(last, score.variable(on: tape)).reshaped([rows])
  }

  /// The rewards of a batch's rows (`[2P]`, chosen rows first), read at each row's end token.
  public func rewards(_ batch: PreferenceBatch, tape: Tape? = nil) -> Variable {
    rewards(batch.tokens, rows: batch.rows, lastPositions: batch.lastTokenPositions, tape: tape)
  }

  /// The reward of each whole sequence (no tape), batched `batchSize` at a time.
  /// - Precondition: every sequence is non-empty and fits `maxPositions`.
  public func rewards(of sequences: [[Int32]], batchSize: Int = 8) -> [Float] {
    precondition(batchSize > 0, "RewardModel.rewards: batch size \(batchSize)")
    var result: [Float] = []
    var start = 0
    while start < sequences.count {
      let chunk = sequences[start..<min(sequences.count, start + batchSize)]
      let width = chunk.map(\.count).max()!
      precondition(
        chunk.allSatisfy { !$0.isEmpty } && width <= config.maxPositions,
        "RewardModel.rewards: sequences must hold 1...\(config.maxPositions) tokens")
      var tokens = [Int32](repeating: 0, count: chunk.count * width)
      var last: [Int32] = []
      for (row, sequence) in chunk.enumerated() {
        for (t, id) in sequence.enumerated() { tokens[row * width + t] = id }
        last.append(Int32(row * width + sequence.count - 1))
      }
      result += rewards(tokens, rows: chunk.count, lastPositions: last).value.scalars
      start += chunk.count
    }
    return result
  }
}
