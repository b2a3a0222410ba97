import Foundation
import MiniLlama
import MiniTokenize

extension RewardModel {
  /// One scored pair: its index in the data set and the rewards of its two replies.
  public typealias PairScore = (pair: Int, chosen: Double, rejected: Double)

  /// The rewards of every pair of the preference shards `data` that fits the model's context,
  /// in batches of `batchSize` pairs (`minillm score --data`).
  /// - Parameter directory: the model's directory, whose tokenizer must be the data's.
  /// - Returns: the scores in pair order and the number of pairs left out as too long.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming `--data`.
  public func scores(
    ofPairsIn data: String, directory: ModelDirectory, batchSize: Int
  ) throws -> (scores: [PairScore], excluded: Int) {
    let dataset = try setting("--data") { try PreferenceDataset(directory: data) }
    // A GGUF file's vocabulary is rebuilt, so its bytes never match the data's tokenizer file.
    if let index = dataset.index, !directory.isGGUFFile,
      let tokenizer = try? directory.loadStoredTokenizer(),
      tokenizer.sha256 != index.tokenizer.sha256
    {
      throw TrainingRunError.setting(
        "--data",
        "\(data)/index.json was made with a tokenizer other than --model's "
          + "\(directory.tokenizerFilePath)")
    }
    guard dataset.vocabularySize <= config.vocabSize else {
      throw TrainingRunError.setting(
        "--data",
        "vocabulary \(dataset.vocabularySize) exceeds --model's vocab_size \(config.vocabSize)")
    }
    let pairs = PreferencePairs(dataset: dataset, maxLength: config.maxPositions)
    let scores = pairs.sequentialBatches(batchSize: batchSize).flatMap { batch in
      let values = rewards(batch).value.scalars
      return batch.pairIndices.enumerated().map { p, pair in
        (pair, Double(values[p]), Double(values[batch.pairCount + p]))
      }
    }
    return (scores, pairs.excludedCount)
  }

  /// The rewards of `responses` as the assistant's replies to `prompt` (after `system`),
  /// rendered with `renderer` (`minillm score --prompt --response …`).
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming `--response` when a conversation does
  ///   not fit the model's context.
  public func scores(
    ofResponses responses: [String], to prompt: String, system: String?,
    renderer: ChatRenderer, batchSize: Int
  ) throws -> [Float] {
    let promptIDs = try renderer.renderPrompt(
      for: Conversation(system: system, messages: [Message(role: .user, content: prompt)]))
    let sequences = try responses.map { reply in
      let ids = promptIDs + (try renderer.renderReply(reply))
      guard ids.count <= config.maxPositions else {
        throw TrainingRunError.setting(
          "--response",
          "the conversation takes \(ids.count) tokens, more than the model's "
            + "max_position_embeddings \(config.maxPositions)")
      }
      return ids
    }
    return rewards(of: sequences, batchSize: batchSize)
  }
}
