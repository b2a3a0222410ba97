import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// LoRA through the shared training loop: only the adapters train, checkpoints hold them with
/// their optimizer state and dropout generator, and a stopped run resumes bit for bit.
@Suite(.serialized) struct LoRATrainingTests {
  /// Continued pretraining of a fixed base with adapters (dropout on, so the generator's state
  /// must survive a resume).
  struct LoRAPretraining: TrainingStage {
    let dataset: TokenDataset
    let dataPath: String
    let basePath: String
    var options = TrainingOptions()
    let defaults = TrainingDefaults(learningRate: 1e-2, epochs: 1, batchSize: 8, evalFraction: 0.1)
    let lora = LoRAConfiguration(
      rank: 4, alpha: 8, dropout: 0.1, targets: ["q_proj", "v_proj", "up_proj"])

    func prepare(stored: RunConfiguration<PretrainSettings>?, in run: TrainingRun) throws -> (
      configuration: RunConfiguration<PretrainSettings>,
      session: () throws -> TrainingSession<
        FineTuneModel, CausalLanguageModelObjective, TokenWindowLoader
      >
    ) {
      let base = try Llama(directory: basePath)
      let settings = PretrainSettings(
        data: dataPath, dataTokens: dataset.count,
        tokenizerSHA256: dataset.index.tokenizer.sha256, preset: nil, model: base.config,
        sequenceLength: 16)
      let windows = TokenWindows(dataset: dataset, sequenceLength: 16)
      let training = try options.resolve(over: stored?.training, defaults: defaults) {
        micro, fraction in windows.split(heldOutFraction: fraction).training.count / micro
      }
      return (
        RunConfiguration(stage: settings, training: training),
        {
          let model = try FineTuneModel(
            base: base, lora: lora, seed: training.seed, baseModelPath: basePath)
          let (train, heldOut) = windows.split(heldOutFraction: training.evalFraction)
          return TrainingSession(
            model: model, objective: CausalLanguageModelObjective(model: model.llama),
            loader: TokenWindowLoader(
              windows: train, batchSize: training.microBatchSize, shuffle: true,
              seed: training.seed),
            evaluationBatches: try heldOut.sequentialBatches(
              batchSize: training.microBatchSize, limit: 2),
            summary: model.parameterSummary)
        }
      )
    }
  }

  func stage(in folder: String) throws -> LoRAPretraining {
    let dataPath = folder + "/data"
    let dataset = try writeDataset(
      patternDocuments(count: 120, vocabulary: 64), vocabulary: 64, into: dataPath)
    let base = Llama(config: tinyConfig(vocabulary: 64, maxPositions: 16), seed: 9)
    try base.save(to: folder + "/base")
    var stage = LoRAPretraining(dataset: dataset, dataPath: dataPath, basePath: folder + "/base")
    stage.options.steps = 12
    stage.options.microBatchSize = 4
    stage.options.checkpointEvery = 4
    return stage
  }

  @Test func aLoRARunTrainsTheAdaptersAloneAndResumesBitForBit() throws {
    let folder = try temporaryDirectory()
    let stage = try stage(in: folder)
    var messages: [String] = []
    let full = try #require(
      try TrainingRun(directory: folder + "/full", label: "pretrain") { messages.append($0) }
        .run(stage))
    #expect(full.modelPath == folder + "/full/adapter")
    #expect(messages.contains { $0.contains("LoRA parameters (r 4") })
    let losses = stepLosses(folder + "/full/metrics.jsonl")
    #expect(losses[12]! < losses[1]!, "the loss falls: \(losses[1]!) → \(losses[12]!)")
    // PEFT's files; the optimizer state of a checkpoint covers the adapters alone.
    for file in ["adapter_config.json", "adapter_model.safetensors"] {
      #expect(FileManager.default.fileExists(atPath: folder + "/full/adapter/" + file))
    }
    #expect(!FileManager.default.fileExists(atPath: folder + "/full/model"))
    let checkpoint = try #require(
      try FileManager.default.contentsOfDirectory(atPath: folder + "/full/checkpoints")
        .filter { $0.hasPrefix("step-") }.sorted().last)
    let optimizer = try SafeTensorsFile(
      path: folder + "/full/checkpoints/\(checkpoint)/optimizer.safetensors")
    let adapterNames = try SafeTensorsFile(
      path: folder + "/full/adapter/adapter_model.safetensors"
    ).names
    #expect(adapterNames.count == 2 * 3 * 2)
    #expect(
      Set(optimizer.names)
        == Set(adapterNames.flatMap { [$0 + ".exp_avg", $0 + ".exp_avg_sq"] } + ["step"]))

    let stopped = TrainingRun(directory: folder + "/stopped", label: "pretrain")
    let stop = StopFlag()
    stopped.stopFlag = stop
    stopped.onEvent = { event in
      if case .stepFinished(let report) = event, report.step == 5 { stop.request() }
    }
    #expect(try stopped.run(stage) == nil)
    var bare = stage
    bare.options = TrainingOptions()
    let resumed = try #require(
      try TrainingRun(directory: folder + "/stopped", mode: .resume, label: "pretrain").run(bare))
    #expect(resumed.summary.progress.step == 12)
    let expected = try Data(
      contentsOf: URL(fileURLWithPath: folder + "/full/adapter/adapter_model.safetensors"))
    let actual = try Data(
      contentsOf: URL(fileURLWithPath: folder + "/stopped/adapter/adapter_model.safetensors"))
    #expect(actual == expected, "the resumed run's adapters differ from the uninterrupted run's")
    #expect(
      stepLosses(folder + "/stopped/metrics.jsonl") == stepLosses(folder + "/full/metrics.jsonl"))
  }

  @Test func theFrozenBaseGetsNoGradientsNorMoments() throws {
    let base = Llama(config: tinyConfig(vocabulary: 64, maxPositions: 16), seed: 9)
    let values = base.arena.values.scalars
    let model = try FineTuneModel(base: base, lora: LoRAConfiguration(rank: 2), seed: 1)
    let tokens = patternDocuments(count: 4, vocabulary: 64).map { Array($0.prefix(9)) }
    struct Fixed: DataLoader {
      let batch: TokenBatch
      mutating func next() -> TokenBatch { batch }
      var cursor: Int { 0 }
      mutating func restore(_ cursor: Int) {}
      var epoch: Int { 0 }
    }
    let trainer = Trainer(
      model: model, objective: CausalLanguageModelObjective(model: model.llama),
      optimizer: AdamW(learningRate: 1e-2),
      schedule: LearningRateSchedule(
        kind: .constant, peakLearningRate: 1e-2, minimumLearningRate: 1e-2, warmupSteps: 0,
        totalSteps: 3),
      loader: Fixed(batch: TokenBatch(tokens: tokens.flatMap { $0 }, rows: 4, sequenceLength: 8)),
      configuration: TrainingConfiguration(totalSteps: 3))
    for _ in 0..<3 { try trainer.step() }
    #expect(!base.arena.hasGradients)
    #expect(base.arena.values.scalars == values)
    #expect(model.arena.count == model.lora!.adapters.reduce(0) { $0 + $1.a.count + $1.b.count })
    #expect(model.lora!.adapters.allSatisfy { $0.b.value.scalars.contains { $0 != 0 } })
  }

  @Test func aLoRARewardModelTrainsItsAdaptersAndHeadAndRoundTrips() throws {
    let language = Llama(config: tinyConfig(vocabulary: 64, maxPositions: 16), seed: 9)
    let trunkValues = language.arena.values.scalars
    let model = try FineTuneRewardModel(
      try RewardModel(languageModel: language, seed: 1), lora: LoRAConfiguration(rank: 4),
      seed: 2)
    let lora = try #require(model.lora)
    #expect(model.arena.parameters.last?.name == FineTuneRewardModel.adapterHeadName)
    let samples = (0..<4).map { i in
      PreferenceSample(
        promptIDs: [1, Int32(10 + i), 5], chosenIDs: [20, 21, 2], rejectedIDs: [40, 41, 42, 2])
    }
    struct Fixed: DataLoader {
      let batch: PreferenceBatch
      mutating func next() -> PreferenceBatch { batch }
      var cursor: Int { 0 }
      mutating func restore(_ cursor: Int) {}
      var epoch: Int { 0 }
    }
    let batch = PreferenceBatch(samples: samples, pairIndices: Array(0..<4))
    let objective = RewardObjective(model: model.reward)
    let before = objective.loss(on: batch, tape: nil).loss.value.item
    let trainer = Trainer(
      model: model, objective: objective, optimizer: AdamW(learningRate: 1e-2),
      schedule: LearningRateSchedule(
        kind: .constant, peakLearningRate: 1e-2, minimumLearningRate: 1e-2, totalSteps: 10),
      loader: Fixed(batch: batch), configuration: TrainingConfiguration(totalSteps: 10))
    for _ in 0..<10 { try trainer.step() }
    let after = objective.loss(on: batch, tape: nil).loss.value.item
    #expect(after < before - 0.1, "reward loss \(before) → \(after)")
    #expect(!lora.base.arena.hasGradients)
    #expect(language.arena.values.scalars == trunkValues)

    let folder = try temporaryDirectory("reward-adapter")
    try model.save(to: folder)
    let config = try String(contentsOfFile: folder + "/adapter_config.json", encoding: .utf8)
    #expect(config.contains("SEQ_CLS") && config.contains("\"score\""))
    let reloaded = try FineTuneRewardModel(
      try RewardModel(languageModel: language, seed: 7), lora: LoRAConfiguration(rank: 4),
      seed: 3)
    try reloaded.loadWeights(fromDirectory: folder)
    #expect(
      reloaded.reward.rewards(batch).value.scalars == model.reward.rewards(batch).value.scalars)

    // A stage's reward model with adapters sits on the language model itself, no copy: the
    // same adapters, head and rewards as on a copied trunk.
    let direct = try FineTuneRewardModel(
      languageModel: language, lora: LoRAConfiguration(rank: 4), seed: 3)
    #expect(direct.lora?.base.arena === language.arena)
    try direct.loadWeights(fromDirectory: folder)
    #expect(
      direct.reward.rewards(batch).value.scalars == model.reward.rewards(batch).value.scalars)
    let fresh = try FineTuneRewardModel(
      try RewardModel(languageModel: language, seed: 3), lora: LoRAConfiguration(rank: 4),
      seed: 3)
    #expect(
      try FineTuneRewardModel(languageModel: language, lora: LoRAConfiguration(rank: 4), seed: 3)
        .arena.values.scalars == fresh.arena.values.scalars)
  }
}
