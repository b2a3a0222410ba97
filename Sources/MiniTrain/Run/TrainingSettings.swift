import Foundation

/// The settings every training stage shares, as `RUN/config.json` stores them beside the
/// stage's own settings: batch shape, seed, held-out split, length, loop, schedule and
/// optimizer. Made by ``TrainingOptions/resolve(over:defaults:processes:microBatchesPerEpoch:)``.
public struct TrainingSettings: Codable, Equatable, Sendable {
  /// Sequences (or pairs) per optimizer step, over all processes.
  public var batchSize: Int
  /// Sequences (or pairs) per forward/backward on one process.
  public var microBatchSize: Int
  /// Seed of the data order (and, for pretraining, of the initial weights).
  public var seed: UInt64
  /// Fraction of the data held out for evaluation.
  public var evalFraction: Double
  /// Micro-batches per evaluation, at most.
  public var evalBatches: Int
  /// Passes over the training data, when the length was given that way.
  public var epochs: Double?
  /// The loop.
  public var training: TrainingConfiguration
  /// The learning rate of each step.
  public var schedule: LearningRateSchedule
  /// The update rule.
  public var optimizer: AdamW

  enum CodingKeys: String, CodingKey {
    case seed, epochs, training, schedule, optimizer
    case batchSize = "batch_size"
    case microBatchSize = "micro_batch_size"
    case evalFraction = "eval_fraction"
    case evalBatches = "eval_batches"
  }

  /// Settings from their parts.
  public init(
    batchSize: Int, microBatchSize: Int, seed: UInt64, evalFraction: Double, evalBatches: Int,
    epochs: Double?, training: TrainingConfiguration, schedule: LearningRateSchedule,
    optimizer: AdamW
  ) {
    self.batchSize = batchSize
    self.microBatchSize = microBatchSize
    self.seed = seed
    self.evalFraction = evalFraction
    self.evalBatches = evalBatches
    self.epochs = epochs
    self.training = training
    self.schedule = schedule
    self.optimizer = optimizer
  }

  /// The differences that stop a resumed run from continuing exactly, as `flag: stored → given`.
  public func structuralDifferences(from stored: TrainingSettings) -> [String] {
    var differences = SettingDifferences()
    differences.compare("--batch-size", batchSize, stored.batchSize)
    differences.compare("--micro-batch-size", microBatchSize, stored.microBatchSize)
    differences.compare("--seed", seed, stored.seed)
    differences.compare("--eval-fraction", evalFraction, stored.evalFraction)
    return differences.lines
  }
}

/// A stage's default training settings.
public struct TrainingDefaults: Sendable {
  /// Peak learning rate.
  public var learningRate: Float
  /// Passes over the data when no length is given.
  public var epochs: Double
  /// Batch size (a preset's own batch size comes first for pretraining).
  public var batchSize: Int
  /// Micro-batch size when it divides a process's share of the batch (`nil`: the whole share).
  public var microBatchSize: Int?
  /// AdamW weight decay.
  public var weightDecay: Float
  /// AdamW betas.
  public var betas: (Float, Float)
  /// Gradient clipping norm.
  public var clip: Float
  /// Held-out fraction.
  public var evalFraction: Double
  /// Micro-batches per evaluation.
  public var evalBatches: Int
  /// Checkpoints kept.
  public var keep: Int

  /// Defaults; the ones not given are AdamW's 0.9/0.95 with weight decay 0.1, clip 1, 16
  /// evaluation batches and 3 checkpoints kept.
  public init(
    learningRate: Float, epochs: Double, batchSize: Int, microBatchSize: Int? = nil,
    weightDecay: Float = 0.1, betas: (Float, Float) = (0.9, 0.95), clip: Float = 1,
    evalFraction: Double, evalBatches: Int = 16, keep: Int = 3
  ) {
    self.learningRate = learningRate
    self.epochs = epochs
    self.batchSize = batchSize
    self.microBatchSize = microBatchSize
    self.weightDecay = weightDecay
    self.betas = betas
    self.clip = clip
    self.evalFraction = evalFraction
    self.evalBatches = evalBatches
    self.keep = keep
  }

  /// The defaults as the bottom layer of ``TrainingOptions``.
  public var options: TrainingOptions {
    var options = TrainingOptions()
    options.epochs = epochs
    options.batchSize = batchSize
    options.learningRate = learningRate
    options.weightDecay = weightDecay
    options.beta1 = betas.0
    options.beta2 = betas.1
    options.clip = clip
    options.evalFraction = evalFraction
    options.evalBatches = evalBatches
    options.keep = keep
    options.keepEvery = 0
    options.seed = 0
    options.schedule = .cosine
    return options
  }
}

/// One layer of training settings, every field optional: the flags of a session, the settings
/// a run stored, or a stage's defaults. Layers stack with ``LayeredSettings/overlaid(on:applyingTies:)``
/// and ``resolve(over:defaults:processes:microBatchesPerEpoch:)`` turns the stack into
/// ``TrainingSettings``.
public struct TrainingOptions: LayeredSettings, Sendable, Equatable {
  /// Optimizer steps.
  public var steps: Int?
  /// Passes over the training data.
  public var epochs: Double?
  public var batchSize: Int?
  public var microBatchSize: Int?
  /// Peak learning rate.
  public var learningRate: Float?
  /// Final learning rate of the decay (default a tenth of the peak).
  public var minimumLearningRate: Float?
  public var warmupSteps: Int?
  public var schedule: LearningRateSchedule.Kind?
  public var decaySteps: Int?
  public var weightDecay: Float?
  public var beta1: Float?
  public var beta2: Float?
  /// Gradient clipping norm (0: none).
  public var clip: Float?
  public var evaluateEvery: Int?
  public var evalFraction: Double?
  public var evalBatches: Int?
  public var checkpointEvery: Int?
  public var keep: Int?
  public var keepEvery: Int?
  public var seed: UInt64?

  /// An empty layer.
  public init() {}

  public static var fields: [SettingField<Self>] {
    [
      .init(\.steps), .init(\.epochs), .init(\.batchSize), .init(\.microBatchSize),
      .init(\.learningRate), .init(\.minimumLearningRate), .init(\.warmupSteps), .init(\.schedule),
      .init(\.decaySteps), .init(\.weightDecay), .init(\.beta1), .init(\.beta2), .init(\.clip),
      .init(\.evaluateEvery), .init(\.evalFraction), .init(\.evalBatches),
      .init(\.checkpointEvery), .init(\.keep), .init(\.keepEvery), .init(\.seed),
    ]
  }

  /// A new length replaces the stored one whichever way it is given; a new peak learning rate
  /// drops the stored minimum, and a new step count the stored decay length.
  public static var ties: [(dependent: SettingField<Self>, trigger: SettingField<Self>)] {
    [
      (.init(\.epochs), .init(\.steps)), (.init(\.steps), .init(\.epochs)),
      (.init(\.minimumLearningRate), .init(\.learningRate)), (.init(\.decaySteps), .init(\.steps)),
    ]
  }

  /// The layer of what a run stored, so that a resumed session keeps every setting not given
  /// again.
  public init(stored: TrainingSettings) {
    steps = stored.epochs == nil ? stored.training.totalSteps : nil
    epochs = stored.epochs
    batchSize = stored.batchSize
    microBatchSize = stored.microBatchSize
    learningRate = stored.schedule.peakLearningRate
    minimumLearningRate = stored.schedule.minimumLearningRate
    warmupSteps = stored.schedule.warmupSteps
    schedule = stored.schedule.kind
    decaySteps = stored.schedule.decaySteps
    weightDecay = stored.optimizer.weightDecay
    beta1 = stored.optimizer.beta1
    beta2 = stored.optimizer.beta2
    clip = stored.training.maxGradientNorm ?? 0
    evaluateEvery = stored.training.evaluateEvery
    evalFraction = stored.evalFraction
    evalBatches = stored.evalBatches
    checkpointEvery = stored.training.checkpointEvery
    keep = stored.training.keepLast
    keepEvery = stored.training.keepEvery
    seed = stored.seed
  }

  /// The training settings of a session: this layer (the flags given) over the settings stored
  /// by an earlier session of the run, over `lower` layers (such as a preset's batch size), over
  /// the stage's defaults; what no layer gives is derived (the micro-batch size from the
  /// process's share of the batch, evaluation and checkpoint intervals of 10% of the run,
  /// warmup of 5% of the steps, at most 1000).
  /// - Parameters:
  ///   - stored: the settings in `RUN/config.json`, when resuming.
  ///   - lower: layers between the stored settings and the defaults.
  ///   - defaults: the stage's defaults.
  ///   - processes: the data-parallel processes; the batch size is the global batch, each
  ///     process accumulating its share.
  ///   - microBatchesPerEpoch: micro-batches in one pass over the training data for a
  ///     micro-batch size and held-out fraction; it throws when the data is too small.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` when the batch cannot be shared, and what
  ///   `microBatchesPerEpoch` throws.
  public func resolve(
    over stored: TrainingSettings?, lower: [TrainingOptions] = [], defaults: TrainingDefaults,
    processes: Int = 1,
    microBatchesPerEpoch: (_ microBatchSize: Int, _ evalFraction: Double) throws -> Int
  ) throws -> TrainingSettings {
    var merged = stored.map { overlaid(on: TrainingOptions(stored: $0)) } ?? self
    for layer in lower + [defaults.options] { merged = merged.overlaid(on: layer) }
    let batch = merged.batchSize!
    guard batch % processes == 0 else {
      throw TrainingRunError.setting(
        "--batch-size", "\(batch) cannot be shared equally by \(processes) processes")
    }
    let share = batch / processes
    let stageMicro = defaults.microBatchSize.flatMap { share % $0 == 0 ? $0 : nil }
    let micro = merged.microBatchSize ?? stageMicro ?? share
    guard batch % (micro * processes) == 0 else {
      throw TrainingRunError.setting(
        "--batch-size",
        "\(batch) is not a multiple of --micro-batch-size \(micro)"
          + (processes > 1 ? " × \(processes) processes" : ""))
    }
    let fraction = merged.evalFraction!
    let perEpoch = try microBatchesPerEpoch(micro, fraction)
    let totalSteps =
      merged.steps ?? max(1, Int(Double(perEpoch) * merged.epochs!) * micro / batch)
    let every = max(1, totalSteps / 10)
    let clip = merged.clip!
    let training = TrainingConfiguration(
      totalSteps: totalSteps, accumulationSteps: batch / (micro * processes),
      maxGradientNorm: clip > 0 ? clip : nil, evaluateEvery: merged.evaluateEvery ?? every,
      checkpointEvery: merged.checkpointEvery ?? every, keepLast: merged.keep!,
      keepEvery: merged.keepEvery!)
    let peak = merged.learningRate!
    let schedule = LearningRateSchedule(
      kind: merged.schedule!, peakLearningRate: peak,
      minimumLearningRate: merged.minimumLearningRate ?? peak / 10,
      warmupSteps: merged.warmupSteps ?? min(1000, totalSteps / 20), totalSteps: totalSteps,
      decaySteps: merged.decaySteps)
    var optimizer = stored?.optimizer ?? AdamW()
    optimizer.learningRate = peak
    optimizer.weightDecay = merged.weightDecay!
    optimizer.beta1 = merged.beta1!
    optimizer.beta2 = merged.beta2!
    return TrainingSettings(
      batchSize: batch, microBatchSize: micro, seed: merged.seed!, evalFraction: fraction,
      evalBatches: merged.evalBatches!, epochs: merged.epochs, training: training,
      schedule: schedule, optimizer: optimizer)
  }
}
