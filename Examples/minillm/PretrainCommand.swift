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
      values stored in RUN/config.json. See Docs/Training.md.
      """)

  @Option(
    help: "Model size: nano (vocabulary from the data's tokenizer), tiny, stories15m, mini, …")
  var preset: String?

  @Option(help: "A model config.json (Hugging Face keys) instead of --preset.")
  var config: String?

  @Option(help: "Token shard folder made by `minillm data pretrain`.")
  var data: String?

  @Option(help: "Run folder (metrics, checkpoints, final model).")
  var out: String

  @Flag(help: "Continue RUN from its newest valid checkpoint (from the start when it has none).")
  var resume = false

  @Flag(help: "Delete what an earlier run wrote in RUN and start over.")
  var overwrite = false

  @Option(help: "Optimizer steps (default: --epochs over the training windows).")
  var steps: Int?

  @Option(help: "Passes over the training windows when --steps is not given (default 1).")
  var epochs: Double?

  @Option(help: "Sequences per optimizer step (default: the preset's, 8).")
  var batchSize: Int?

  @Option(help: "Sequences per forward/backward; --batch-size must be a multiple (default: all).")
  var microBatchSize: Int?

  @Option(help: "Tokens per training sequence (default: the model's max_position_embeddings).")
  var seqLen: Int?

  @Option(help: "Peak learning rate (default 5e-4).")
  var lr: Float?

  @Option(help: "Final learning rate of the decay (default lr/10).")
  var minLr: Float?

  @Option(help: "Steps of linear warmup (default: 5% of the steps, at most 1000).")
  var warmupSteps: Int?

  @Option(help: "Learning-rate schedule: cosine, linear, constant or wsd (default cosine).")
  var schedule: LearningRateSchedule.Kind?

  @Option(help: "Steps of the final decay for --schedule wsd (default: 20% of the steps).")
  var decaySteps: Int?

  @Option(help: "AdamW weight decay, applied to matrices only (default 0.1).")
  var weightDecay: Float?

  @Option(help: "AdamW beta1 (default 0.9).")
  var beta1: Float?

  @Option(help: "AdamW beta2 (default 0.95).")
  var beta2: Float?

  @Option(help: "Clip the global gradient norm to this (default 1; 0 turns clipping off).")
  var clip: Float?

  @Option(help: "Evaluate on the held-out windows every N steps (default: every 10% of the run).")
  var evalEvery: Int?

  @Option(help: "Fraction of the windows held out for evaluation (default 0.02).")
  var evalFraction: Double?

  @Option(help: "Micro-batches per evaluation, at most (default 16).")
  var evalBatches: Int?

  @Option(help: "Write a checkpoint every N steps (default: every 10% of the run).")
  var saveEvery: Int?

  @Option(help: "Checkpoints to keep (default 3).")
  var keep: Int?

  @Option(help: "Also keep every checkpoint whose step is a multiple of M (default: none).")
  var keepEvery: Int?

  @Option(help: "Seed of the initial weights and of the data order (default 0).")
  var seed: UInt64?

  @OptionGroup var threads: ThreadOptions

  func validate() throws {
    if resume && overwrite { throw ValidationError("give at most one of --resume and --overwrite") }
    if preset != nil && config != nil {
      throw ValidationError("give --preset or --config, not both")
    }
    func positive<T: Numeric & Comparable>(_ value: T?, _ flag: String, allowZero: Bool = false)
      throws
    {
      guard let value else { return }
      if allowZero ? value < 0 : value <= 0 {
        throw ValidationError("\(flag): must be \(allowZero ? "≥ 0" : "> 0"), got \(value)")
      }
    }
    try positive(steps, "--steps", allowZero: true)
    try positive(epochs, "--epochs")
    try positive(batchSize, "--batch-size")
    try positive(microBatchSize, "--micro-batch-size")
    try positive(seqLen, "--seq-len")
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

  func run() throws {
    try threads.apply()
    let run = RunDirectory(path: out)
    let stored =
      resume && FileManager.default.fileExists(atPath: run.configurationPath)
      ? try PretrainSettings.read(run.configurationPath) : nil
    let dataPath = data ?? stored?.data
    guard let dataPath else { throw CommandLineError("--data: missing (the token shard folder)") }
    let dataset: TokenDataset
    do {
      dataset = try TokenDataset(directory: dataPath)
    } catch {
      throw CommandLineError("--data: \(error)")
    }
    let tokenizerPath = (dataPath as NSString).appendingPathComponent(dataset.index.tokenizer.file)
    let tokenizer = try? SentencePieceTokenizer(contentsOf: tokenizerPath)
    if tokenizer == nil {
      printError("warning: \(tokenizerPath) cannot be read; RUN/model will have no tokenizer")
    }
    let settings = try resolveSettings(
      dataset: dataset, dataPath: dataPath, tokenizer: tokenizer, stored: stored)
    if let stored {
      let differences = settings.structuralDifferences(from: stored)
      if !differences.isEmpty {
        throw CommandLineError(
          "--resume: \(run.configurationPath) was written with other settings, so the checkpoint "
            + "cannot continue exactly (" + differences.joined(separator: "; ")
            + "); drop those flags or start a new run")
      }
    }
    do {
      try run.prepare(resume ? .resume : overwrite ? .overwrite : .fresh)
    } catch let error as CheckpointError {
      throw CommandLineError(
        "--out: \(error.path) is \(error.message.replacingOccurrences(of: "resume the run or overwrite it", with: "pass --resume to continue it or --overwrite to start over"))"
      )
    }
    try run.writeConfiguration(settings.encoded())
    try PretrainSession(
      settings: settings, run: run, dataset: dataset,
      tokenizerPath: tokenizer == nil ? nil : tokenizerPath, resume: resume
    ).train()
  }

  /// The settings of this run: stored values (on resume) overridden by the flags given, then
  /// defaults.
  func resolveSettings(
    dataset: TokenDataset, dataPath: String, tokenizer: SentencePieceTokenizer?,
    stored: PretrainSettings?
  ) throws -> PretrainSettings {
    let vocabulary = dataset.index.tokenizer.vocabularySize
    var model: LlamaConfig
    var presetName = stored?.preset
    if let config {
      do {
        model = try LlamaConfig.load(contentsOf: config)
      } catch {
        throw CommandLineError("--config: \(error)")
      }
      presetName = nil
    } else if let name = preset ?? (stored == nil ? "nano" : nil) {
      guard let value = LlamaConfig.Preset(rawValue: name) else {
        let names = LlamaConfig.Preset.allCases.map(\.rawValue).joined(separator: ", ")
        throw CommandLineError("--preset: '\(name)' is not one of \(names)")
      }
      model = LlamaConfig.preset(value, vocabSize: value == .nano ? vocabulary : nil)
      presetName = name
      if let tokenizer {
        model.bosTokenId = tokenizer.specialIDs.bos
        model.eosTokenIds = tokenizer.specialIDs.eos.map { [$0] } ?? []
      } else if let eos = dataset.index.tokenizer.eosId {
        model.eosTokenIds = [eos]
      }
    } else {
      model = stored!.model
    }
    guard model.vocabSize >= vocabulary else {
      throw CommandLineError(
        "--\(config != nil ? "config" : "preset"): vocab_size \(model.vocabSize) is smaller than the "
          + "data's vocabulary \(vocabulary) (\(dataPath)/index.json)")
    }
    let presetValue = presetName.flatMap(LlamaConfig.Preset.init(rawValue:))
    let sequenceLength = seqLen ?? stored?.sequenceLength ?? model.maxPositions
    guard sequenceLength <= model.maxPositions else {
      throw CommandLineError(
        "--seq-len: \(sequenceLength) exceeds the model's max_position_embeddings \(model.maxPositions)"
      )
    }
    let batch = batchSize ?? stored?.batchSize ?? presetValue?.batchSize ?? 8
    let micro = microBatchSize ?? stored?.microBatchSize ?? batch
    guard batch % micro == 0 else {
      throw CommandLineError(
        "--batch-size: \(batch) is not a multiple of --micro-batch-size \(micro)")
    }
    let fraction = evalFraction ?? stored?.evalFraction ?? 0.02
    let windows = TokenWindows(dataset: dataset, sequenceLength: sequenceLength)
    let trainingWindows = windows.split(heldOutFraction: fraction).training.count
    guard trainingWindows >= micro else {
      throw CommandLineError(
        "--data: \(dataset.count) tokens make \(trainingWindows) training windows of "
          + "\(sequenceLength) + 1 tokens, fewer than one micro-batch (\(micro)); use a smaller "
          + "--seq-len or --micro-batch-size, or more data")
    }
    let epochCount = epochs ?? (steps == nil ? stored?.epochs : nil)
    let totalSteps =
      steps
      ?? epochCount.map { max(1, Int(Double(trainingWindows / micro) * $0) * micro / batch) }
      ?? stored?.training.totalSteps ?? max(1, trainingWindows / batch)
    let every = max(1, totalSteps / 10)
    let storedTraining = stored?.training
    let clipValue = clip ?? storedTraining?.maxGradientNorm ?? (stored == nil ? 1 : 0)
    let training = TrainingConfiguration(
      totalSteps: totalSteps, accumulationSteps: batch / micro,
      maxGradientNorm: clipValue > 0 ? clipValue : nil,
      evaluateEvery: evalEvery ?? storedTraining?.evaluateEvery ?? every,
      checkpointEvery: saveEvery ?? storedTraining?.checkpointEvery ?? every,
      keepLast: keep ?? storedTraining?.keepLast ?? 3,
      keepEvery: keepEvery ?? storedTraining?.keepEvery ?? 0)
    let peak = lr ?? stored?.schedule.peakLearningRate ?? 5e-4
    let scheduleValue = LearningRateSchedule(
      kind: schedule ?? stored?.schedule.kind ?? .cosine, peakLearningRate: peak,
      minimumLearningRate: minLr ?? (lr == nil ? stored?.schedule.minimumLearningRate : nil)
        ?? peak / 10,
      warmupSteps: warmupSteps ?? stored?.schedule.warmupSteps ?? min(1000, totalSteps / 20),
      totalSteps: totalSteps,
      decaySteps: decaySteps ?? (steps == nil ? stored?.schedule.decaySteps : nil))
    var optimizer = stored?.optimizer ?? AdamW(learningRate: peak)
    optimizer.learningRate = peak
    if let weightDecay { optimizer.weightDecay = weightDecay }
    if let beta1 { optimizer.beta1 = beta1 }
    if let beta2 { optimizer.beta2 = beta2 }
    return PretrainSettings(
      data: URL(fileURLWithPath: dataPath).standardizedFileURL.path, dataTokens: dataset.count,
      tokenizerSHA256: dataset.index.tokenizer.sha256, preset: presetName, model: model,
      sequenceLength: sequenceLength, batchSize: batch, microBatchSize: micro,
      seed: seed ?? stored?.seed ?? 0, evalFraction: fraction,
      evalBatches: evalBatches ?? stored?.evalBatches ?? 16, epochs: epochCount,
      training: training, schedule: scheduleValue, optimizer: optimizer)
  }
}
