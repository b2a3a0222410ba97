import Foundation
import MiniLlama
import MiniTokenize

extension CausalLanguageModelObjective {
  /// The mean next-token loss over the first `count` windows of `windows`, in batches of
  /// `batchSize` windows, without a tape (`minillm eval`).
  /// - Parameter progress: called after each batch with the windows done, the mean loss so far
  ///   and the tokens predicted so far.
  /// - Returns: the mean loss over every predicted token, and their number.
  public func meanLoss(
    over windows: TokenWindows, count: Int, batchSize: Int,
    progress: (_ done: Int, _ loss: Double, _ tokens: Int) -> Void = { _, _, _ in }
  ) throws -> (loss: Double, tokens: Int) {
    var lossSum = 0.0
    var tokens = 0
    var done = 0
    while done < count {
      let end = min(count, done + batchSize)
      let batch = try windows.batch(done..<end)
      lossSum += Double(loss(on: batch, tape: nil).loss.value.item) * Double(batch.targetCount)
      tokens += batch.targetCount
      done = end
      progress(done, lossSum / Double(tokens), tokens)
    }
    return (lossSum / Double(tokens), tokens)
  }
}

extension TokenWindows {
  /// The windows of the token shards in `data` that `model` is evaluated on (`minillm eval`),
  /// checked against it: `sequenceLength` inputs each (default: the model's context, at most
  /// 1024), the first `limit` of them (default: all).
  /// - Parameters:
  ///   - modelPath: the model directory; its `tokenizer.model` (else `tokenizer.json`), when
  ///     it has one, is compared with the shards' tokenizer file.
  ///   - warn: told when the shards were tokenised with another tokenizer than the model's.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming `--data` (unreadable shards, a
  ///   vocabulary larger than the model's, no whole window) or `--seq-len` (longer than the
  ///   model's context).
  public static func evaluation(
    of data: String, for model: LlamaConfig, modelPath: String, sequenceLength: Int? = nil,
    limit: Int? = nil, warn: (String) -> Void = { _ in }
  ) throws -> TokenWindows {
    let dataset = try setting("--data") { try TokenDataset(directory: data) }
    let vocabulary = dataset.index.tokenizer.vocabularySize
    guard vocabulary <= model.vocabSize else {
      throw TrainingRunError.setting(
        "--data", "vocabulary \(vocabulary) is larger than the model's \(model.vocabSize)")
    }
    let directory = ModelDirectory(path: modelPath)
    if !directory.isGGUFFile, let tokenizer = try? directory.loadStoredTokenizer(),
      tokenizer.sha256 != dataset.index.tokenizer.sha256
    {
      warn(
        "warning: \(data) was tokenised with another tokenizer than "
          + "\(directory.tokenizerFilePath)")
    }
    let length = sequenceLength ?? min(model.maxPositions, 1024)
    guard length <= model.maxPositions else {
      throw TrainingRunError.setting(
        "--seq-len", "\(length) exceeds the model's max_position_embeddings \(model.maxPositions)")
    }
    let windows = TokenWindows(dataset: dataset, sequenceLength: length)
    let count = min(windows.count, limit ?? .max)
    guard count > 0 else {
      throw TrainingRunError.setting(
        "--data", "\(dataset.count) tokens hold no window of \(length) + 1")
    }
    return windows.prefix(count)
  }
}
