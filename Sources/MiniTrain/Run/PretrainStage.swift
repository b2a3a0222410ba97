import Foundation
import MiniLlama

/// Pretraining as `minillm pretrain` runs it: a Llama from a preset or a `config.json`, fresh
/// from the seed, trained on token shards with next-token prediction; or continued pretraining
/// of a model directory (``model``), whole or as LoRA adapters (``lora``).
///
/// ```swift
/// var options = TrainingOptions()
/// options.steps = 200
/// let stage = PretrainStage(data: "data/shards", preset: "nano", options: options)
/// let result = try TrainingRun(directory: "runs/nano", label: "pretrain").run(stage)
/// ```
public struct PretrainStage: TrainingStage {
  /// What the data is counted in.
  public static let unit = "windows"
  /// lr 5e-4, one epoch, batch 8 (a preset's own batch size comes first), 2% held out.
  public static let defaults = TrainingDefaults(
    learningRate: 5e-4, epochs: 1, batchSize: 8, evalFraction: 0.02)

  /// The token shard folder (else the stored run's).
  public var data: String?
  /// A preset name (`nano`, `tiny`, …); `nano` when neither it nor ``config`` is given.
  public var preset: String?
  /// A model `config.json` (Hugging Face keys) instead of ``preset``.
  public var config: String?
  /// A model directory (or GGUF file) whose config and weights are pretrained further, instead
  /// of fresh weights of ``preset`` or ``config`` (else the stored run's).
  public var model: String?
  /// The LoRA settings given, over the stored run's: with a rank, adapters train on the frozen
  /// ``model`` and the run writes `RUN/adapter/`.
  public var lora: LoRAOptions
  /// Tokens per training window (else the stored run's, else the model's context).
  public var sequenceLength: Int?
  /// The training settings given: the top layer over the stored run's and ``defaults``.
  public var options: TrainingOptions

  /// A stage of the inputs given; what is `nil` comes from the stored run or the defaults.
  public init(
    data: String?, preset: String? = nil, config: String? = nil, model: String? = nil,
    sequenceLength: Int? = nil, options: TrainingOptions = TrainingOptions(),
    lora: LoRAOptions = LoRAOptions()
  ) {
    self.data = data
    self.preset = preset
    self.config = config
    self.model = model
    self.sequenceLength = sequenceLength
    self.options = options
    self.lora = lora
  }

  /// The settings of this session, and its model, windows and loader: each of several
  /// processes takes its share of every batch and of the held-out batches.
  /// - Throws: ``TrainingRunError`` naming the flag and file at fault.
  public func prepare(stored: RunConfiguration<PretrainSettings>?, in run: TrainingRun) throws
    -> (
      configuration: RunConfiguration<PretrainSettings>,
      session: () throws -> TrainingSession<
        ModelWithFiles<FineTuneModel>, CausalLanguageModelObjective, TokenWindowLoader
      >
    )
  {
    let input = try PretrainTrainingData.load(data: data, stored: stored?.stage, run: run)
    let basePath =
      self.model.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
      ?? stored?.stage.baseModel
    let adapters = try lora.resolve(over: stored?.stage.lora)
    if adapters != nil && basePath == nil {
      throw TrainingRunError.setting("--lora-rank", "needs --model (the pretrained base to adapt)")
    }
    let (model, presetName) = try input.model(
      preset: preset, config: config, stored: stored?.stage, baseModel: basePath)
    if let basePath { try input.checkTokenizer(of: basePath) }
    let length = sequenceLength ?? stored?.stage.sequenceLength ?? model.maxPositions
    guard length <= model.maxPositions else {
      throw TrainingRunError.setting(
        "--seq-len", "\(length) exceeds the model's max_position_embeddings \(model.maxPositions)")
    }
    // A preset's own batch size comes before the stage's default.
    var presetLayer = TrainingOptions()
    presetLayer.batchSize = presetName.flatMap(LlamaConfig.Preset.init(rawValue:))?.batchSize
    let processes = run.communicator.worldSize
    let training = try options.resolve(
      over: stored?.training, lower: [presetLayer], defaults: Self.defaults, processes: processes
    ) {
      try input.microBatchesPerEpoch($0, $1, sequenceLength: length, processes: processes)
    }
    var settings = input.settings(model: model, preset: presetName, sequenceLength: length)
    settings.baseModel = basePath
    settings.lora = adapters
    let configuration = RunConfiguration(stage: settings, training: training)
    return (configuration, { try input.session(configuration, communicator: run.communicator) })
  }
}
