import Foundation
import MiniLlama
import MiniTokenize

/// The token shards of a `pretrain` run, their tokenizer, and the model they train.
public struct PretrainTrainingData {
  /// `--data`, as given.
  public let path: String
  /// The token shards.
  public let dataset: TokenDataset
  /// The shards' tokenizer file, when it can be read (copied into every saved model).
  public let tokenizerPath: String?
  /// The tokenizer (sentencepiece or byte-level BPE), when it can be read.
  public let tokenizer: (any Tokenizer)?

  /// Loads the token shards `data` (else the stored run's).
  /// - Parameter run: where warnings go.
  /// - Throws: ``TrainingRunError`` naming the flag and file at fault.
  public static func load(data: String?, stored: PretrainSettings?, run: TrainingRun) throws
    -> PretrainTrainingData
  {
    guard let path = data ?? stored?.data else {
      throw TrainingRunError.setting("--data", "missing (the token shard folder)")
    }
    let dataset = try setting("--data") { try TokenDataset(directory: path) }
    let tokenizerPath = (path as NSString).appendingPathComponent(dataset.index.tokenizer.file)
    let tokenizer = try? StoredTokenizer.read(folder: path, file: dataset.index.tokenizer.file)
      .tokenizer
    if tokenizer == nil {
      run.note("warning: \(tokenizerPath) cannot be read; RUN/model will have no tokenizer")
    }
    return PretrainTrainingData(
      path: path, dataset: dataset, tokenizerPath: tokenizer == nil ? nil : tokenizerPath,
      tokenizer: tokenizer)
  }

  /// The model of the run and the preset it came from: the config file `config`, else the
  /// preset `preset` (the data's vocabulary for `nano`, the tokenizer's BOS and EOS), else the
  /// stored model, else `nano`.
  /// - Throws: ``TrainingRunError`` naming `--config` or `--preset`.
  /// With `baseModel` (`--model`, continued pretraining) the config is that directory's.
  public func model(
    preset: String?, config: String?, stored: PretrainSettings?, baseModel: String? = nil
  ) throws -> (
    model: LlamaConfig, preset: String?
  ) {
    let vocabulary = dataset.index.tokenizer.vocabularySize
    var model: LlamaConfig
    var presetName = stored?.preset
    if let baseModel {
      model = try setting("--model") { try ModelDirectory(path: baseModel).loadConfig() }
      presetName = nil
    } else if let config {
      model = try setting("--config") { try LlamaConfig.load(contentsOf: config) }
      presetName = nil
    } else if let name = preset ?? (stored == nil ? "nano" : nil) {
      guard let value = LlamaConfig.Preset(rawValue: name) else {
        let names = LlamaConfig.Preset.allCases.map(\.rawValue).joined(separator: ", ")
        throw TrainingRunError.setting("--preset", "'\(name)' is not one of \(names)")
      }
      model = LlamaConfig.preset(value, vocabSize: value == .nano ? vocabulary : nil)
      presetName = name
      if let tokenizer {
        model.bosTokenId = tokenizer.specialIDs.bos
        model.eosTokenIds = tokenizer.specialIDs.eos.map { [$0] } ?? []
      } else if let eos = dataset.index.tokenizer.eosId {
        model.eosTokenIds = [eos]
      }
    } else if let stored {
      model = stored.model
    } else {
      throw TrainingRunError.setting("--preset", "missing")
    }
    guard model.vocabSize >= vocabulary else {
      throw TrainingRunError.setting(
        baseModel != nil ? "--model" : config != nil ? "--config" : "--preset",
        "vocab_size \(model.vocabSize) is smaller than the data's vocabulary \(vocabulary) "
          + "(\(path)/index.json)")
    }
    return (model, presetName)
  }

  /// Checks that the data was made with the tokenizer of the base model `basePath`
  /// (`pretrain --model`): the same vocabulary, when both tokenizers can be read.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming `--data`, the data's `index.json` and
  ///   the base's tokenizer file.
  public func checkTokenizer(of basePath: String) throws {
    let directory = ModelDirectory(path: basePath)
    guard let tokenizer, let base = try? directory.loadStoredTokenizer() else { return }
    guard base.tokenizer.sharesVocabulary(with: tokenizer) else {
      throw TrainingRunError.setting(
        "--data",
        "\(path)/index.json was made with a tokenizer (\(dataset.index.tokenizer.file), SHA-256 "
          + "\(dataset.index.tokenizer.sha256.prefix(12))…) whose vocabulary is not --model's "
          + "\(directory.tokenizerFilePath); make the data with `minillm data pretrain "
          + "--tokenizer \(basePath)`")
    }
  }

  /// Micro-batches in one pass over the training windows of `sequenceLength` left after
  /// holding out `evalFraction`.
  /// - Throws: when the windows do not fill one micro-batch for each process.
  public func microBatchesPerEpoch(
    _ microBatchSize: Int, _ evalFraction: Double, sequenceLength: Int, processes: Int = 1
  ) throws -> Int {
    let windows = TokenWindows(dataset: dataset, sequenceLength: sequenceLength)
    let count = windows.split(heldOutFraction: evalFraction).training.count
    guard count >= microBatchSize * processes else {
      throw TrainingRunError.setting(
        "--data",
        "\(dataset.count) tokens make \(count) training windows of \(sequenceLength) + 1 tokens, "
          + "fewer than one micro-batch (\(microBatchSize))"
          + (processes > 1 ? " for each of \(processes) processes" : "")
          + "; use a smaller --seq-len or --micro-batch-size, or more data")
    }
    return count / microBatchSize
  }

  /// The settings stored about the data and model.
  public func settings(model: LlamaConfig, preset: String?, sequenceLength: Int)
    -> PretrainSettings
  {
    PretrainSettings(
      data: URL(fileURLWithPath: path).standardizedFileURL.path, dataTokens: dataset.count,
      tokenizerSHA256: dataset.index.tokenizer.sha256, preset: preset, model: model,
      sequenceLength: sequenceLength)
  }

  /// The session of `configuration` for one process of `communicator`: a fresh model from the
  /// seed, the windows' loader and this process's share of the held-out batches.
  public func session(
    _ configuration: RunConfiguration<PretrainSettings>, communicator: any Communicator
  ) throws -> TrainingSession<
    ModelWithFiles<FineTuneModel>, CausalLanguageModelObjective, TokenWindowLoader
  > {
    let (settings, common) = (configuration.stage, configuration.training)
    let model: FineTuneModel
    if let basePath = settings.baseModel {
      let base = try loadLlama(basePath, frozenBase: settings.lora != nil)
      guard base.config == settings.model else {
        throw TrainingRunError.setting(
          "--model", "\(basePath)/config.json changed since the run began")
      }
      model = try FineTuneModel(
        base: base, lora: settings.lora, seed: common.seed, baseModelPath: basePath)
    } else {
      model = try FineTuneModel(
        base: Llama(config: settings.model, seed: common.seed), lora: nil)
    }
    let llama = model.llama
    let (training, heldOut) = TokenWindows(
      dataset: dataset, sequenceLength: settings.sequenceLength
    ).split(heldOutFraction: common.evalFraction)
    return TrainingSession(
      model: ModelWithFiles(model, files: tokenizerPath.map(TokenizerFile.init(path:))),
      objective: CausalLanguageModelObjective(model: llama),
      loader: TokenWindowLoader(
        windows: training, batchSize: common.microBatchSize, shuffle: true, seed: common.seed,
        rank: communicator.rank, worldSize: communicator.worldSize),
      evaluationBatches: communicator.share(
        of: try heldOut.sequentialBatches(
          batchSize: common.microBatchSize, limit: common.evalBatches)),
      summary: "\(model.parameterSummary), \(training.count) training windows of "
        + "\(settings.sequenceLength) tokens (\(heldOut.count) held out)")
  }
}
