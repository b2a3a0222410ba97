import ArgumentParser
import Foundation
import MiniTrain

/// A training command's defaults and wording, so that every stage (`pretrain`, `sft`, and the
/// alignment stages) shares one set of flags and one way of resolving them.
protocol TrainingStage {
  /// The command name, used in messages (`[sft] …`).
  static var name: String { get }
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

extension TrainingStage {
  static var microBatchSizeHelp: String {
    "Sequences per forward/backward; --batch-size must be a multiple (default: all)."
  }
}

/// Default values of the training flags of one stage.
struct TrainingDefaults {
  /// `--lr`.
  var learningRate: Float
  /// `--epochs` when neither `--steps` nor `--epochs` is given.
  var epochs: Double
  /// `--batch-size` (a preset's own batch size comes first for pretraining).
  var batchSize: Int
  /// `--micro-batch-size` when it divides the batch size (`nil`: the whole batch).
  var microBatchSize: Int? = nil
  /// `--weight-decay`.
  var weightDecay: Float = 0.1
  /// `--beta1`, `--beta2`.
  var betas: (Float, Float) = (0.9, 0.95)
  /// `--clip`.
  var clip: Float = 1
  /// `--eval-fraction`.
  var evalFraction: Double
  /// `--eval-batches`.
  var evalBatches = 16
  /// `--keep`.
  var keep = 3
}

/// The training flags every training command shares (`@OptionGroup var training:
/// TrainingFlags<Stage>`): length, batch, optimizer, schedule, evaluation, checkpoints, seed and
/// threads. ``resolve(stored:defaultBatchSize:microBatchesPerEpoch:)`` turns them, the settings
/// stored by an earlier session of the run, and the stage's defaults into ``TrainingSettings``.
struct TrainingFlags<Stage: TrainingStage>: ParsableArguments {
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
    func positive<T: Numeric & Comparable>(_ value: T?, _ flag: String, allowZero: Bool = false)
      throws
    {
      guard let value else { return }
      if allowZero ? value < 0 : value <= 0 {
        throw ValidationError("\(flag): must be \(allowZero ? "≥ 0" : "> 0"), got \(value)")
      }
    }
    for (value, flag) in [
      (lr, "--lr"), (minLr, "--min-lr"), (weightDecay, "--weight-decay"), (beta1, "--beta1"),
      (beta2, "--beta2"), (clip, "--clip"),
    ] {
      if let value, !value.isFinite {
        throw ValidationError("\(flag): must be finite, got \(value)")
      }
    }
    for (value, flag) in [(epochs, "--epochs"), (evalFraction, "--eval-fraction")] {
      if let value, !value.isFinite {
        throw ValidationError("\(flag): must be finite, got \(value)")
      }
    }
    try positive(steps, "--steps", allowZero: true)
    try positive(epochs, "--epochs")
    try positive(batchSize, "--batch-size")
    try positive(microBatchSize, "--micro-batch-size")
    try positive(lr, "--lr")
    try positive(minLr, "--min-lr", allowZero: true)
    try positive(warmupSteps, "--warmup-steps", allowZero: true)
    try positive(decaySteps, "--decay-steps")
    try positive(weightDecay, "--weight-decay", allowZero: true)
    try positive(clip, "--clip", allowZero: true)
    try positive(evalEvery, "--eval-every", allowZero: true)
    try positive(evalBatches, "--eval-batches", allowZero: true)
    try positive(saveEvery, "--save-every", allowZero: true)
    try positive(keep, "--keep")
    try positive(keepEvery, "--keep-every", allowZero: true)
    for (value, flag) in [(beta1, "--beta1"), (beta2, "--beta2")] {
      if let value, !(value >= 0 && value < 1) {
        throw ValidationError("\(flag): must be in [0, 1), got \(value)")
      }
    }
    if let evalFraction, !(evalFraction >= 0 && evalFraction < 0.5) {
      throw ValidationError("--eval-fraction: must be in [0, 0.5), got \(evalFraction)")
    }
  }

  /// The training settings of this session: the flags given, else the values stored by an
  /// earlier session of the run (`--resume`), else the stage's defaults.
  /// - Parameters:
  ///   - stored: the settings in `RUN/config.json`, when resuming.
  ///   - defaultBatchSize: a batch size that comes before the stage's default (a preset's).
  ///   - processes: the data-parallel processes (`mpirun -np N`); `--batch-size` is the global
  ///     batch, each process accumulating its share (`--micro-batch-size` defaults to the
  ///     stage's micro-batch size when that divides the share, else to the share).
  ///   - microBatchesPerEpoch: micro-batches in one pass over the training data for a
  ///     micro-batch size and held-out fraction; it throws when the data is too small.
  func resolve(
    stored: TrainingSettings?, defaultBatchSize: Int? = nil, processes: Int = 1,
    microBatchesPerEpoch: (_ microBatchSize: Int, _ evalFraction: Double) throws -> Int
  ) throws -> TrainingSettings {
    let defaults = Stage.defaults
    let batch = batchSize ?? stored?.batchSize ?? defaultBatchSize ?? defaults.batchSize
    guard batch % processes == 0 else {
      throw CommandLineError(
        "--batch-size: \(batch) cannot be shared equally by \(processes) processes")
    }
    let share = batch / processes
    let stageMicro = defaults.microBatchSize.flatMap { share % $0 == 0 ? $0 : nil }
    let micro = microBatchSize ?? stored?.microBatchSize ?? stageMicro ?? share
    guard batch % (micro * processes) == 0 else {
      throw CommandLineError(
        "--batch-size: \(batch) is not a multiple of --micro-batch-size \(micro)"
          + (processes > 1 ? " × \(processes) processes" : ""))
    }
    let fraction = evalFraction ?? stored?.evalFraction ?? defaults.evalFraction
    let perEpoch = try microBatchesPerEpoch(micro, fraction)
    let accumulation = batch / (micro * processes)
    func stepsFor(epochs: Double) -> Int { max(1, Int(Double(perEpoch) * epochs) * micro / batch) }
    let epochCount =
      epochs
      ?? (self.steps == nil ? stored?.epochs ?? (stored == nil ? defaults.epochs : nil) : nil)
    let totalSteps =
      self.steps ?? epochCount.map { stepsFor(epochs: $0) } ?? stored?.training.totalSteps
      ?? stepsFor(epochs: defaults.epochs)
    let every = max(1, totalSteps / 10)
    let storedTraining = stored?.training
    let clipValue = clip ?? storedTraining?.maxGradientNorm ?? (stored == nil ? defaults.clip : 0)
    let training = TrainingConfiguration(
      totalSteps: totalSteps, accumulationSteps: accumulation,
      maxGradientNorm: clipValue > 0 ? clipValue : nil,
      evaluateEvery: evalEvery ?? storedTraining?.evaluateEvery ?? every,
      checkpointEvery: saveEvery ?? storedTraining?.checkpointEvery ?? every,
      keepLast: keep ?? storedTraining?.keepLast ?? defaults.keep,
      keepEvery: keepEvery ?? storedTraining?.keepEvery ?? 0)
    let peak = lr ?? stored?.schedule.peakLearningRate ?? defaults.learningRate
    let scheduleValue = LearningRateSchedule(
      kind: schedule ?? stored?.schedule.kind ?? .cosine, peakLearningRate: peak,
      minimumLearningRate: minLr ?? (lr == nil ? stored?.schedule.minimumLearningRate : nil)
        ?? peak / 10,
      warmupSteps: warmupSteps ?? stored?.schedule.warmupSteps ?? min(1000, totalSteps / 20),
      totalSteps: totalSteps,
      decaySteps: decaySteps ?? (self.steps == nil ? stored?.schedule.decaySteps : nil))
    var optimizer =
      stored?.optimizer
      ?? AdamW(
        learningRate: peak, beta1: defaults.betas.0, beta2: defaults.betas.1,
        weightDecay: defaults.weightDecay)
    optimizer.learningRate = peak
    if let weightDecay { optimizer.weightDecay = weightDecay }
    if let beta1 { optimizer.beta1 = beta1 }
    if let beta2 { optimizer.beta2 = beta2 }
    return TrainingSettings(
      batchSize: batch, microBatchSize: micro, seed: seed ?? stored?.seed ?? 0,
      evalFraction: fraction,
      evalBatches: evalBatches ?? stored?.evalBatches ?? defaults.evalBatches,
      epochs: epochCount, training: training, schedule: scheduleValue, optimizer: optimizer)
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
