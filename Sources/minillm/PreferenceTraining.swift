import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain

/// What a `reward` or `dpo` run stores about its starting model and data in `RUN/config.json`
/// (beside the stage's own settings and the training settings).
struct PreferenceDataSettings: Codable, Equatable {
  /// `--model`, absolute.
  var baseModel: String
  /// The base model's architecture (checked on resume).
  var model: LlamaConfig
  /// `--data`, absolute.
  var data: String
  /// Pairs and tokens in the data (checked on resume).
  var dataPairs: Int
  var dataTokens: Int
  /// SHA-256 of the data's tokenizer (checked on resume).
  var tokenizerSHA256: String
  /// Pairs whose prompt and longer reply exceed this are left out.
  var maxLength: Int

  enum CodingKeys: String, CodingKey {
    case model, data
    case baseModel = "base_model"
    case dataPairs = "data_pairs"
    case dataTokens = "data_tokens"
    case tokenizerSHA256 = "tokenizer_sha256"
    case maxLength = "max_length"
  }

  func structuralDifferences(from stored: PreferenceDataSettings) -> [String] {
    var result: [String] = []
    func compare<T: Equatable>(_ flag: String, _ mine: T, _ theirs: T) {
      if mine != theirs { result.append("\(flag): \(theirs) → \(mine)") }
    }
    compare("--model (config.json)", model, stored.model)
    compare("--data (pairs)", dataPairs, stored.dataPairs)
    compare("--data (tokens)", dataTokens, stored.dataTokens)
    compare("--data (tokenizer)", tokenizerSHA256, stored.tokenizerSHA256)
    compare("--max-length", maxLength, stored.maxLength)
    return result
  }
}

/// The starting model and the preference pairs of a `reward` or `dpo` run, checked against
/// each other.
struct PreferenceTrainingData {
  let base: FineTuneBase
  let dataset: PreferenceDataset
  let index: PreferenceShardIndex
  /// The pairs within `maxLength`, padded with the base model's padding id.
  let pairs: PreferencePairs
  let settings: PreferenceDataSettings

  /// Loads `--model` and `--data` (from the flags, else from the stored run).
  /// - Throws: one line naming the flag and file at fault.
  static func load(
    model: String?, data: String?, maxLength: Int?, stored: PreferenceDataSettings?,
    label: String
  ) throws -> PreferenceTrainingData {
    guard let modelPath = model ?? stored?.baseModel else {
      throw CommandLineError("--model: missing (the SFT model directory)")
    }
    guard let dataPath = data ?? stored?.data else {
      throw CommandLineError(
        "--data: missing (the preference shard folder made by `minillm data dpo`)")
    }
    let dataset: PreferenceDataset
    do {
      dataset = try PreferenceDataset(directory: dataPath)
    } catch {
      throw CommandLineError("--data: \(error)")
    }
    guard let index = dataset.index else {
      throw CommandLineError("--data: \(dataPath) has no index.json")
    }
    let base = try FineTuneBase.load(
      modelPath: modelPath, dataPath: dataPath, tokenizer: index.tokenizer,
      template: index.template, label: label)
    if let own = try? ModelDirectory(path: modelPath).loadChatTemplate(), own != index.template {
      throw CommandLineError(
        "--data: \(dataPath)/index.json was rendered with another chat template than --model's "
          + "\(modelPath)/tokenizer_config.json; make the data with the model's template "
          + "(`minillm data dpo --tokenizer \(modelPath) --template …`)")
    }
    let maxPositions = base.llama.config.maxPositions
    let limit = maxLength ?? stored?.maxLength ?? maxPositions
    guard limit <= maxPositions else {
      throw CommandLineError(
        "--max-length: \(limit) exceeds the model's max_position_embeddings \(maxPositions) "
          + "(\(modelPath)/config.json)")
    }
    let pairs = PreferencePairs(dataset: dataset, maxLength: limit, padID: base.paddingID)
    if pairs.excludedCount > 0 {
      printError(
        "[\(label)] \(pairs.excludedCount) of \(dataset.count) pairs are longer than "
          + "--max-length \(limit) tokens and left out")
    }
    let settings = PreferenceDataSettings(
      baseModel: base.path, model: base.llama.config,
      data: URL(fileURLWithPath: dataPath).standardizedFileURL.path, dataPairs: dataset.count,
      dataTokens: index.promptTokens + index.chosenTokens + index.rejectedTokens,
      tokenizerSHA256: index.tokenizer.sha256, maxLength: limit)
    return PreferenceTrainingData(
      base: base, dataset: dataset, index: index, pairs: pairs, settings: settings)
  }

  /// Micro-batches of `microBatchSize` pairs in one pass over the training pairs left after
  /// holding out `evalFraction`, for ``TrainingFlags/resolve(stored:defaultBatchSize:microBatchesPerEpoch:)``.
  /// - Throws: when not one micro-batch of training pairs is left.
  func microBatchesPerEpoch(_ microBatchSize: Int, _ evalFraction: Double) throws -> Int {
    let count = pairs.split(heldOutFraction: evalFraction).training.count
    guard count >= microBatchSize else {
      throw CommandLineError(
        "--data: \(pairs.count) pairs within --max-length leave \(count) to train on after "
          + "holding out --eval-fraction \(evalFraction), fewer than one micro-batch "
          + "(\(microBatchSize))")
    }
    return count / microBatchSize
  }

  /// The training loader and the evaluation batches of `training`.
  func batches(_ training: TrainingSettings) -> (
    loader: PreferenceLoader, evaluation: [PreferenceBatch], trainingPairs: Int, heldOutPairs: Int
  ) {
    let (trainingPairs, heldOut) = pairs.split(
      heldOutFraction: training.evalFraction, seed: training.seed)
    let loader = PreferenceLoader(
      pairs: trainingPairs, batchSize: training.microBatchSize, seed: training.seed)
    let evaluation = heldOut.sequentialBatches(
      batchSize: training.microBatchSize, limit: training.evalBatches)
    return (loader, evaluation, trainingPairs.count, heldOut.count)
  }
}
