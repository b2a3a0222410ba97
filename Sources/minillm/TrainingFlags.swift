import ArgumentParser
import Foundation
import MiniTrain

/// A training command's defaults and wording, so that every stage (`pretrain`, `sft`, and the
/// alignment stages) shares one set of flags.
protocol TrainingFlagHelp {
  /// What the data is counted in (`windows`, `samples`, `pairs`).
  static var unit: String { get }
  /// Default values of the flags.
  static var defaults: TrainingDefaults { get }
  /// Help of `--seed`.
  static var seedHelp: String { get }
  /// Help of `--batch-size`.
  static var batchSizeHelp: String { get }
  /// Help of `--micro-batch-size`.
  static var microBatchSizeHelp: String { get }
}

extension TrainingFlagHelp {
  static var microBatchSizeHelp: String {
    "Sequences per forward/backward; --batch-size must be a multiple (default: all)."
  }
}

/// The wording of the input flags of a fine-tuning stage (`sft`, `reward`, `dpo`).
protocol FineTuneFlagHelp: TrainingFlagHelp {
  /// Help of `--model`.
  static var modelHelp: String { get }
  /// Help of `--data`.
  static var dataHelp: String { get }
  /// Help of `--max-length`.
  static var maxLengthHelp: String { get }
}

/// The input flags of a fine-tuning stage: `--model`, `--data`, the run folder, `--max-length`
/// and the LoRA flags (each may come from the stored run on `--resume`).
struct FineTuneFlags<Stage: FineTuneFlagHelp>: ParsableArguments {
  @Option(help: ArgumentHelp(Stage.modelHelp))
  var model: String?

  @Option(help: ArgumentHelp(Stage.dataHelp))
  var data: String?

  @OptionGroup var run: RunFlags

  @Option(help: ArgumentHelp(Stage.maxLengthHelp))
  var maxLength: Int?

  @OptionGroup var lora: LoRAFlags

  func validate() throws {
    if let maxLength, maxLength < 2 {
      throw ValidationError("--max-length: must be ≥ 2, got \(maxLength)")
    }
  }

  /// The stage's inputs, with the training flags given as the top layer of its settings.
  func inputs(_ training: TrainingFlags<Stage>) -> FineTuneInputs {
    FineTuneInputs(
      model: model, data: data, maxLength: maxLength, options: training.options,
      lora: lora.options)
  }
}

/// The wording of `--data` and `--max-length` for the stages trained on preference pairs.
protocol PreferenceFlagHelp: FineTuneFlagHelp {}

extension PreferenceFlagHelp {
  static var dataHelp: String {
    "Preference shard folder made by `minillm data dpo` with the model's tokenizer."
  }
  static var maxLengthHelp: String {
    "Pairs whose prompt and longer reply exceed this many tokens are left out (default and maximum: the model's max_position_embeddings)."
  }
}

/// The training flags every training command shares (`@OptionGroup var training:
/// TrainingFlags<Stage>`): length, batch, optimizer, schedule, evaluation, checkpoints, seed and
/// threads. ``options`` is the top layer of a session's settings.
struct TrainingFlags<Stage: TrainingFlagHelp>: ParsableArguments {
  @Option(help: "Optimizer steps (default: --epochs over the training \(Stage.unit)).")
  var steps: Int?

  @Option(
    help:
      "Passes over the training \(Stage.unit) when --steps is not given (default \(format(Stage.defaults.epochs)))."
  )
  var epochs: Double?

  @Option(help: ArgumentHelp(Stage.batchSizeHelp))
  var batchSize: Int?

  @Option(help: ArgumentHelp(Stage.microBatchSizeHelp))
  var microBatchSize: Int?

  @Option(help: "Peak learning rate (default \(format(Stage.defaults.learningRate))).")
  var lr: Float?

  @Option(help: "Final learning rate of the decay (default lr/10).")
  var minLr: Float?

  @Option(help: "Steps of linear warmup (default: 5% of the steps, at most 1000).")
  var warmupSteps: Int?

  @Option(help: "Learning-rate schedule: cosine, linear, constant or wsd (default cosine).")
  var schedule: LearningRateSchedule.Kind?

  @Option(help: "Steps of the final decay for --schedule wsd (default: 20% of the steps).")
  var decaySteps: Int?

  @Option(
    help:
      "AdamW weight decay, applied to matrices only (default \(format(Stage.defaults.weightDecay)))."
  )
  var weightDecay: Float?

  @Option(help: "AdamW beta1 (default \(format(Stage.defaults.betas.0))).")
  var beta1: Float?

  @Option(help: "AdamW beta2 (default \(format(Stage.defaults.betas.1))).")
  var beta2: Float?

  @Option(
    help:
      "Clip the global gradient norm to this (default \(format(Stage.defaults.clip)); 0 turns clipping off)."
  )
  var clip: Float?

  @Option(
    help: "Evaluate on the held-out \(Stage.unit) every N steps (default: every 10% of the run).")
  var evalEvery: Int?

  @Option(
    help:
      "Fraction of the \(Stage.unit) held out for evaluation (default \(format(Stage.defaults.evalFraction)))."
  )
  var evalFraction: Double?

  @Option(help: "Micro-batches per evaluation, at most (default \(Stage.defaults.evalBatches)).")
  var evalBatches: Int?

  @Option(help: "Write a checkpoint every N steps (default: every 10% of the run).")
  var saveEvery: Int?

  @Option(help: "Checkpoints to keep (default \(Stage.defaults.keep)).")
  var keep: Int?

  @Option(help: "Also keep every checkpoint whose step is a multiple of M (default: none).")
  var keepEvery: Int?

  @Option(help: ArgumentHelp(Stage.seedHelp))
  var seed: UInt64?

  @OptionGroup var threads: ThreadOptions

  func validate() throws {
    do {
      try options.validate()
    } catch {
      throw ValidationError("\(error)")
    }
  }

  /// The flags given, as the top layer of the session's settings (over the stored run's and
  /// the stage's defaults).
  var options: TrainingOptions {
    var options = TrainingOptions()
    options.steps = steps
    options.epochs = epochs
    options.batchSize = batchSize
    options.microBatchSize = microBatchSize
    options.learningRate = lr
    options.minimumLearningRate = minLr
    options.warmupSteps = warmupSteps
    options.schedule = schedule
    options.decaySteps = decaySteps
    options.weightDecay = weightDecay
    options.beta1 = beta1
    options.beta2 = beta2
    options.clip = clip
    options.evaluateEvery = evalEvery
    options.evalFraction = evalFraction
    options.evalBatches = evalBatches
    options.checkpointEvery = saveEvery
    options.keep = keep
    options.keepEvery = keepEvery
    options.seed = seed
    return options
  }
}

/// A default value as help text shows it (`2e-05` → `2e-5`, `3.0` → `3`).
private func format<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: T) -> String {
  if value == value.rounded() && abs(value) < 1e6 { return String(Int(value)) }
  let text = String(value)
  if let range = text.range(of: "e-0") { return text.replacingCharacters(in: range, with: "e-") }
  return text
}

extension LearningRateSchedule.Kind: ExpressibleByArgument {}
