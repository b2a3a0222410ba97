import Foundation
import MiniLlama
import MiniTokenize

/// The starting point of a fine-tuning stage (`sft`, `reward`, `dpo`): the model of `--model
/// BASE`, and the tokenizer and chat template of `--data DIR`, checked against each other.
public struct FineTuneBase {
  /// `--model`, absolute.
  public let path: String
  /// The base weights.
  public let llama: Llama
  /// The data's tokenizer and its file (the base model's vocabulary too, when it carries one):
  /// sentencepiece or byte-level BPE.
  public let stored: StoredTokenizer
  /// The template the data was rendered with.
  public let template: ChatTemplate
  /// The base model's `generation_config.json` (sampling defaults carried to the output).
  public let generation: GenerationConfig

  /// Loads `modelPath` and the tokenizer of the data folder `dataPath` and checks that they
  /// fit: the data's tokenizer file matches its index, its vocabulary fits the model's
  /// `vocab_size`, it is the base model's own `tokenizer.model` (when the base has one) or has
  /// the vocabulary of its `tokenizer.json` or GGUF file, and it holds the template's special
  /// tokens.
  /// - Parameters:
  ///   - frozenBase: the base stays frozen under adapters (``loadLlama(_:frozenBase:)``).
  ///   - warn: told when the base has no tokenizer to compare.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming the flag and file at fault.
  public static func load(
    modelPath: String, dataPath: String, tokenizer reference: TokenShardIndex.TokenizerReference,
    template: ChatTemplate, frozenBase: Bool = false, warn: (String) -> Void = { _ in }
  ) throws -> FineTuneBase {
    let llama = try loadLlama(modelPath, frozenBase: frozenBase)
    let indexPath = (dataPath as NSString).appendingPathComponent("index.json")
    let tokenizerPath = (dataPath as NSString).appendingPathComponent(reference.file)
    let stored = try setting("--data") {
      try StoredTokenizer.read(folder: dataPath, file: reference.file)
    }
    let tokenizer = stored.tokenizer
    guard stored.sha256 == reference.sha256 else {
      throw TrainingRunError.setting(
        "--data",
        "\(tokenizerPath) has SHA-256 \(stored.sha256.prefix(12))…, but \(indexPath) "
          + "records \(reference.sha256.prefix(12))…; the folder was changed after "
          + "`minillm data` wrote it")
    }
    let config = llama.config
    guard tokenizer.vocabularySize <= config.vocabSize else {
      throw TrainingRunError.setting(
        "--model",
        "\(modelPath)/config.json has vocab_size \(config.vocabSize), fewer than the "
          + "\(tokenizer.vocabularySize) pieces of the data's tokenizer (\(indexPath)); make the "
          + "data with the base model's tokenizer")
    }
    let baseTokenizerPath = (modelPath as NSString).appendingPathComponent("tokenizer.model")
    let baseJSONPath = (modelPath as NSString).appendingPathComponent("tokenizer.json")
    let modelDirectory = ModelDirectory(path: modelPath)
    if modelDirectory.isGGUFFile,
      let base = try? modelDirectory.loadStoredTokenizer()
    {
      // The file's own vocabulary, rebuilt: the same pieces, not the same bytes.
      guard base.hasSameVocabulary(as: stored) else {
        throw TrainingRunError.setting(
          "--data",
          "\(indexPath) was made with a tokenizer (SHA-256 \(stored.sha256.prefix(12))…) "
            + "whose pieces are not the vocabulary of --model's "
            + "\(modelPath); make the data with `minillm data … --tokenizer \(modelPath)`")
      }
    } else if let bytes = FileManager.default.contents(atPath: baseTokenizerPath) {
      let base = try setting("--model") {
        try SentencePieceTokenizer(modelBytes: [UInt8](bytes), origin: baseTokenizerPath)
      }
      // A model rebuilt from a GGUF file's vocabulary (data made with `--tokenizer F.gguf`)
      // has other bytes but the same pieces and scores, so it encodes as the base's.
      let rebuilt = stored.sentencePiece.map { base.encodesAs($0) } ?? false
      guard base.sha256 == stored.sha256 || rebuilt else {
        throw TrainingRunError.setting(
          "--data",
          "\(indexPath) was made with a tokenizer (SHA-256 "
            + "\(stored.sha256.prefix(12))…) other than --model's \(baseTokenizerPath) "
            + "(\(base.sha256.prefix(12))…); make the data with `minillm data … --tokenizer "
            + "\(modelPath)`")
      }
    } else if FileManager.default.fileExists(atPath: baseJSONPath) {
      // A byte-level BPE tokenizer.json: the same tokens and merges (the data's copy may have
      // been rebuilt from a GGUF file's vocabulary).
      let base = try setting("--model") { try modelDirectory.loadStoredTokenizer() }
      guard base.hasSameVocabulary(as: stored) else {
        throw TrainingRunError.setting(
          "--data",
          "\(indexPath) was made with a tokenizer (\(tokenizerPath), SHA-256 "
            + "\(stored.sha256.prefix(12))…) whose vocabulary is not --model's \(baseJSONPath) "
            + "(\(base.sha256.prefix(12))…); make the data with `minillm data … --tokenizer "
            + "\(modelPath)`")
      }
    } else {
      warn(
        "warning: \(modelPath) has no tokenizer.model or tokenizer.json; only the vocabulary "
          + "size of the data's tokenizer could be checked against the model")
    }
    _ = try setting("--data", prefix: "\(indexPath): template: ") {
      try ChatRenderer(template: template, tokenizer: tokenizer)
    }
    let generation = try setting("--model") {
      try ModelDirectory(path: modelPath).loadGenerationConfig()
    }
    return FineTuneBase(
      path: URL(fileURLWithPath: modelPath).standardizedFileURL.path, llama: llama,
      stored: stored, template: template, generation: generation)
  }

  /// The data's tokenizer.
  public var tokenizer: any Tokenizer { stored.tokenizer }

  /// The id of padded positions: `config.json`'s `pad_token_id`, else the tokenizer's pad,
  /// else its EOS, else 0 (right padding is never attended to by a real position, so any
  /// valid id works).
  public var paddingID: Int32 {
    Int32(llama.config.padTokenId ?? tokenizer.specialIDs.pad ?? tokenizer.specialIDs.eos ?? 0)
  }

  /// The files that make a saved model directory chat-ready.
  public var chatFiles: ChatModelFiles {
    ChatModelFiles(stored: stored, template: template, generation: generation)
  }

  /// The settings stored about this base and its data.
  public func dataSettings(
    dataPath: String, unit: FineTuneDataSettings.Unit, count: Int, tokens: Int,
    tokenizerSHA256: String, maxLength: Int
  ) -> FineTuneDataSettings {
    FineTuneDataSettings(
      baseModel: path, model: llama.config,
      data: URL(fileURLWithPath: dataPath).standardizedFileURL.path, unit: unit,
      dataCount: count, dataTokens: tokens, tokenizerSHA256: tokenizerSHA256,
      maxLength: maxLength)
  }

  /// The maximum length given, else the stored one, else the model's context; checked against
  /// the context.
  public func maxLength(_ given: Int?, stored: Int?, modelPath: String) throws -> Int {
    let maxPositions = llama.config.maxPositions
    let limit = given ?? stored ?? maxPositions
    guard limit <= maxPositions else {
      throw TrainingRunError.setting(
        "--max-length",
        "\(limit) exceeds the model's max_position_embeddings \(maxPositions) "
          + "(\(modelPath)/config.json)")
    }
    return limit
  }
}

/// Loads a model directory or GGUF file to train, turning any error into one line naming
/// `--model` and the file.
///
/// For full training every weight is `Float` (a GGUF file's blocks dequantised). A base that
/// stays frozen under adapters (`frozenBase`) keeps a GGUF file's blocks as they are
/// (``Llama/forInference(directory:)``), as QLoRA keeps its 4-bit base: the adapters' products
/// dequantise them a panel at a time and the model takes about the file's size in memory.
public func loadLlama(_ path: String, frozenBase: Bool = false) throws -> Llama {
  try setting("--model") {
    if frozenBase { return try Llama.forInference(directory: path) }
    let model = try Llama(directory: path)
    try model.checkTrainable()
    return model
  }
}

/// Runs `body`, turning what it throws into ``TrainingRunError/setting(_:_:)`` of `flag`.
func setting<T>(_ flag: String, prefix: String = "", _ body: () throws -> T) throws -> T {
  do {
    return try body()
  } catch {
    throw TrainingRunError.setting(flag, prefix + "\(error)")
  }
}

/// The index of SFT or preference shards, as a fine-tuning run reads it.
public protocol FineTuneDataIndex {
  /// The data's tokenizer.
  var tokenizer: TokenShardIndex.TokenizerReference { get }
  /// The template the data was rendered with.
  var template: ChatTemplate { get }
}

extension SFTShardIndex: FineTuneDataIndex {}
extension PreferenceShardIndex: FineTuneDataIndex {}

extension FineTuneBase {
  /// The starting model and the data of a fine-tuning run: `model` and `data` (else the stored
  /// run's), the data opened by `open` and its index checked against the model.
  /// - Parameter missing: what `--model` and `--data` should be, for the error when absent.
  /// - Throws: ``TrainingRunError`` naming the flag and file at fault.
  static func open<Dataset, Index: FineTuneDataIndex>(
    model: String?, data: String?, stored: FineTuneDataSettings?, frozenBase: Bool = false,
    run: TrainingRun,
    missing: (model: String, data: String), dataset open: (String) throws -> Dataset,
    index: (Dataset) -> Index?
  ) throws -> (
    base: FineTuneBase, dataset: Dataset, index: Index, modelPath: String, dataPath: String
  ) {
    guard let modelPath = model ?? stored?.baseModel else {
      throw TrainingRunError.setting("--model", "missing (\(missing.model))")
    }
    guard let dataPath = data ?? stored?.data else {
      throw TrainingRunError.setting("--data", "missing (\(missing.data))")
    }
    let dataset = try setting("--data") { try open(dataPath) }
    guard let found = index(dataset) else {
      throw TrainingRunError.setting("--data", "\(dataPath) has no index.json")
    }
    let base = try load(
      modelPath: modelPath, dataPath: dataPath, tokenizer: found.tokenizer,
      template: found.template, frozenBase: frozenBase
    ) { run.note("[\(run.label)] \($0)") }
    return (base, dataset, found, modelPath, dataPath)
  }
}

/// The model and data of a fine-tuning stage (``SFTTrainingData``, ``PreferenceTrainingData``),
/// so one function can load either and resolve the training settings against it.
public protocol FineTuneTrainingData {
  /// Loads the model `model` and the data `data` (else the stored run's); a `frozenBase`
  /// stays frozen under adapters (``loadLlama(_:frozenBase:)``).
  static func load(
    model: String?, data: String?, maxLength: Int?, stored: FineTuneDataSettings?,
    frozenBase: Bool, run: TrainingRun
  ) throws -> Self
  /// Micro-batches in one pass over the training data left after holding out `evalFraction`.
  func microBatchesPerEpoch(_ microBatchSize: Int, _ evalFraction: Double, processes: Int)
    throws -> Int
  /// What the run stores about the model and data.
  var settings: FineTuneDataSettings { get }
}

extension SFTTrainingData: FineTuneTrainingData {}
extension PreferenceTrainingData: FineTuneTrainingData {}
