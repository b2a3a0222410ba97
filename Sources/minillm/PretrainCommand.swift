import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain

struct PretrainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pretrain",
    abstract: "Pretrain a Llama from scratch on token shards (next-token prediction).",
    discussion: """
      RUN gets metrics.jsonl (one line per step, plus evaluation lines), config.json (every
      setting), checkpoints/step-NNNNNN/ (model directory + optimizer.safetensors +
      trainer_state.json + manifest.json) and, at the end, model/: a model directory with a copy
      of the tokenizer, ready for generate, sft and transformers. Ctrl-C (SIGINT) or SIGTERM saves
      a checkpoint at the next step boundary and exits 0; --resume continues bit for bit from the
      newest checkpoint whose manifest verifies. With --resume, flags not given again keep the
      values stored in RUN/config.json. Under `mpirun -np N` the N processes train data-parallel:
      --batch-size stays the global batch, each process takes its share, rank 0 writes RUN.
      See Docs/Training.md.
      """)

  @Option(
    help: "Model size: nano (vocabulary from the data's tokenizer), tiny, stories15m, mini, …")
  var preset: String?

  @Option(help: "A model config.json (Hugging Face keys) instead of --preset.")
  var config: String?

  @Option(
    help:
      "Continue pretraining this model directory (its config and weights) instead of fresh weights of --preset/--config."
  )
  var model: String?

  @OptionGroup var lora: LoRAFlags

  @Option(help: "Token shard folder made by `minillm data pretrain`.")
  var data: String?

  @OptionGroup var runFlags: RunFlags

  @Option(help: "Tokens per training sequence (default: the model's max_position_embeddings).")
  var seqLen: Int?

  @OptionGroup var training: TrainingFlags<PretrainHelp>

  func validate() throws {
    if [preset, config, model].compactMap({ $0 }).count > 1 {
      throw ValidationError("give one of --preset, --config and --model")
    }
    if let seqLen, seqLen <= 0 { throw ValidationError("--seq-len: must be > 0, got \(seqLen)") }
  }

  func run() throws {
    try runTraining(self, label: "pretrain", runFlags: runFlags, threads: training.threads)
  }
}

/// `minillm pretrain`'s defaults and wording for the shared training flags.
enum PretrainHelp: TrainingFlagHelp {
  static let unit = "windows"
  static let defaults = TrainingDefaults(
    learningRate: 5e-4, epochs: 1, batchSize: 8, evalFraction: 0.02)
  static let seedHelp = "Seed of the initial weights and of the data order (default 0)."
  static let batchSizeHelp = "Sequences per optimizer step (default: the preset's, 8)."
}

extension PretrainCommand: TrainingStage {
  /// The settings of this session, and its model, windows and loader: each of several
  /// processes takes its share of every batch and of the held-out batches.
  func prepare(stored: RunConfiguration<PretrainSettings>?, in run: TrainingRun) throws -> (
    configuration: RunConfiguration<PretrainSettings>,
    session: () throws -> TrainingSession<
      ModelWithFiles<FineTuneModel>, CausalLanguageModelObjective, TokenWindowLoader
    >
  ) {
    let input = try PretrainTrainingData.load(data: data, stored: stored?.stage, run: run)
    let basePath =
      self.model.map { URL(fileURLWithPath: $0).standardizedFileURL.path }
      ?? stored?.stage.baseModel
    let adapters = try lora.options.resolve(over: stored?.stage.lora)
    if adapters != nil && basePath == nil {
      throw CommandLineError("--lora-rank: needs --model (the pretrained base to adapt)")
    }
    let (model, presetName) = try input.model(
      preset: preset, config: config, stored: stored?.stage, baseModel: basePath)
    let sequenceLength = seqLen ?? stored?.stage.sequenceLength ?? model.maxPositions
    guard sequenceLength <= model.maxPositions else {
      throw CommandLineError(
        "--seq-len: \(sequenceLength) exceeds the model's max_position_embeddings \(model.maxPositions)"
      )
    }
    // A preset's own batch size comes before the stage's default.
    var presetLayer = TrainingOptions()
    presetLayer.batchSize = presetName.flatMap(LlamaConfig.Preset.init(rawValue:))?.batchSize
    let processes = run.communicator.worldSize
    let common = try training.resolve(
      stored: stored?.training, lower: [presetLayer], processes: processes
    ) {
      try input.microBatchesPerEpoch(
        $0, $1, sequenceLength: sequenceLength, processes: processes)
    }
    var settings = input.settings(model: model, preset: presetName, sequenceLength: sequenceLength)
    settings.baseModel = basePath
    settings.lora = adapters
    let configuration = RunConfiguration(stage: settings, training: common)
    return (configuration, { try input.session(configuration, communicator: run.communicator) })
  }
}
