import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// A whole pretraining stage run by a Swift program through ``TrainingRun``, without the CLI
/// (the example of Docs/TrainingRun.md): settings layered over the stored run and defaults, the
/// folder rules of fresh, resumed and overwritten runs, a stop request and an exact resume,
/// `RUN/model` and the result line.
@Suite(.serialized) struct TrainingRunTests {
  /// Pretraining a tiny Llama on token windows: the stage builds its settings, objective and
  /// loader, and nothing else.
  struct TinyPretraining: TrainingStage {
    let dataset: TokenDataset
    let dataPath: String
    var model = tinyConfig(vocabulary: 64, maxPositions: 16)
    /// The settings given (the top layer).
    var options = TrainingOptions()
    let defaults = TrainingDefaults(learningRate: 1e-2, epochs: 1, batchSize: 8, evalFraction: 0.1)

    func prepare(stored: RunConfiguration<PretrainSettings>?, in run: TrainingRun) throws -> (
      configuration: RunConfiguration<PretrainSettings>,
      session: () throws -> TrainingSession<Llama, CausalLanguageModelObjective, TokenWindowLoader>
    ) {
      let sequenceLength = model.maxPositions
      let settings = PretrainSettings(
        data: dataPath, dataTokens: dataset.count,
        tokenizerSHA256: dataset.index.tokenizer.sha256, preset: nil, model: model,
        sequenceLength: sequenceLength)
      let windows = TokenWindows(dataset: dataset, sequenceLength: sequenceLength)
      let training = try options.resolve(over: stored?.training, defaults: defaults) {
        micro, fraction in windows.split(heldOutFraction: fraction).training.count / micro
      }
      return (
        RunConfiguration(stage: settings, training: training),
        {
          let llama = Llama(config: settings.model, seed: training.seed)
          let (train, heldOut) = windows.split(heldOutFraction: training.evalFraction)
          return TrainingSession(
            model: llama, objective: CausalLanguageModelObjective(model: llama),
            loader: TokenWindowLoader(
              windows: train, batchSize: training.microBatchSize, shuffle: true,
              seed: training.seed),
            evaluationBatches: try heldOut.sequentialBatches(
              batchSize: training.microBatchSize, limit: 2),
            summary: "\(llama.parameterCount) parameters")
        }
      )
    }
  }

  func stage(in folder: String) throws -> TinyPretraining {
    let dataPath = folder + "/data"
    let dataset = try writeDataset(
      patternDocuments(count: 120, vocabulary: 64), vocabulary: 64, into: dataPath)
    var stage = TinyPretraining(dataset: dataset, dataPath: dataPath)
    stage.options.steps = 12
    stage.options.microBatchSize = 4
    stage.options.checkpointEvery = 4
    return stage
  }

  @Test func aStageRunsEndToEndAndWritesItsRun() throws {
    let folder = try temporaryDirectory()
    let stage = try stage(in: folder)
    var messages: [String] = []
    let run = TrainingRun(directory: folder + "/run", label: "pretrain") { messages.append($0) }
    let result = try #require(try run.run(stage))

    #expect(result.summary.progress.step == 12)
    #expect(result.modelPath == folder + "/run/model")
    let losses = stepLosses(folder + "/run/metrics.jsonl")
    #expect(losses.keys.sorted() == Array(1...12))
    #expect(losses[12]! < losses[1]! - 0.3, "the loss falls: \(losses[1]!) → \(losses[12]!)")
    let figures = try #require(
      try JSONSerialization.jsonObject(with: Data(result.json.utf8)) as? [String: Any])
    #expect(figures["steps"] as? Int == 12)
    #expect(figures["model"] as? String == folder + "/run/model")
    #expect(figures["eval_loss"] is Double && figures["eval_perplexity"] is Double)
    #expect((figures["final_loss"] as? Double).map { Float($0) } == losses[12])

    // RUN/model loads as a Llama; config.json holds the stage and the resolved settings.
    let saved = try Llama(directory: result.modelPath)
    #expect(saved.config.vocabSize == 64)
    let stored = try RunConfiguration<PretrainSettings>.read(folder + "/run/config.json")
    #expect(stored.stage.sequenceLength == 16)
    #expect(stored.training.training.totalSteps == 12)
    #expect(stored.training.training.accumulationSteps == 2)
    #expect(stored.training.schedule.peakLearningRate == 1e-2)
    #expect(messages.first?.hasPrefix("[pretrain] ") == true)
    #expect(messages.last == "[pretrain] model written to \(folder)/run/model")

    // A second fresh run refuses the folder; a resume with another batch shape refuses the
    // settings; an overwrite starts over.
    #expect {
      try TrainingRun(directory: folder + "/run", label: "pretrain").run(stage)
    } throws: { error in
      "\(error)".hasPrefix("--out: ") && "\(error)".contains("--overwrite")
    }
    var other = stage
    other.options.microBatchSize = 2
    #expect {
      try TrainingRun(directory: folder + "/run", mode: .resume, label: "pretrain").run(other)
    } throws: { error in
      "\(error)".contains("--micro-batch-size: 4 → 2")
    }
    let again = try #require(
      try TrainingRun(directory: folder + "/run", mode: .overwrite, label: "pretrain").run(stage))
    #expect(again.summary.progress.step == 12)
  }

  @Test func aStoppedRunResumesBitForBitWithTheStoredSettings() throws {
    let folder = try temporaryDirectory()
    let stage = try stage(in: folder)
    _ = try #require(try TrainingRun(directory: folder + "/full", label: "pretrain").run(stage))

    let stopped = TrainingRun(directory: folder + "/stopped", label: "pretrain")
    let stop = StopFlag()
    stopped.stopFlag = stop
    stopped.onEvent = { event in
      if case .stepFinished(let report) = event, report.step == 5 { stop.request() }
    }
    #expect(try stopped.run(stage) == nil)
    #expect(!FileManager.default.fileExists(atPath: folder + "/stopped/model"))

    // Resumed with no settings given: every one comes from RUN/config.json.
    var bare = stage
    bare.options = TrainingOptions()
    let resumed = try #require(
      try TrainingRun(directory: folder + "/stopped", mode: .resume, label: "pretrain").run(bare))
    #expect(resumed.summary.progress.step == 12)
    let expected = try Data(
      contentsOf: URL(fileURLWithPath: folder + "/full/model/model.safetensors"))
    let actual = try Data(
      contentsOf: URL(fileURLWithPath: folder + "/stopped/model/model.safetensors"))
    #expect(actual == expected, "the resumed run's weights differ from the uninterrupted run's")
    #expect(
      stepLosses(folder + "/stopped/metrics.jsonl") == stepLosses(folder + "/full/metrics.jsonl"))
  }

  @Test func flagsOverlayTheStoredRunOverTheDefaults() throws {
    let defaults = TrainingDefaults(
      learningRate: 1e-3, epochs: 2, batchSize: 8, microBatchSize: 4, evalFraction: 0.1)
    var first = TrainingOptions()
    first.steps = 40
    first.learningRate = 2e-3
    first.minimumLearningRate = 1e-4
    let stored = try first.resolve(over: nil, defaults: defaults) { _, _ in 100 }
    #expect(stored.training.totalSteps == 40 && stored.epochs == nil)
    #expect(stored.microBatchSize == 4 && stored.training.accumulationSteps == 2)
    #expect(stored.schedule.minimumLearningRate == 1e-4)
    #expect(stored.training.evaluateEvery == 4 && stored.schedule.warmupSteps == 2)

    // Nothing given: the stored run as it was.
    #expect(
      try TrainingOptions().resolve(over: stored, defaults: defaults) { _, _ in 100 } == stored)
    // A new peak drops the stored minimum (a tenth of the new peak); epochs replace steps.
    var given = TrainingOptions()
    given.learningRate = 5e-3
    given.epochs = 1
    let resumed = try given.resolve(over: stored, defaults: defaults) { _, _ in 100 }
    #expect(resumed.schedule.minimumLearningRate == Float(5e-3) / 10)
    #expect(resumed.epochs == 1 && resumed.training.totalSteps == 50)
    #expect(resumed.training.evaluateEvery == 4, "kept from the stored run")
    // Without a stored run, the defaults: 2 epochs of 100 micro-batches of 4 in batches of 8.
    let fresh = try TrainingOptions().resolve(over: nil, defaults: defaults) { _, _ in 100 }
    #expect(fresh.training.totalSteps == 100 && fresh.epochs == 2)
    #expect(fresh.optimizer.weightDecay == 0.1 && fresh.training.maxGradientNorm == 1)
  }

  @Test func dpoLossSettingsOverlayTheStoredLossOverTheDefaults() throws {
    // Nothing stored: a new loss keeps the default smoothing (0) and reference.
    let ipo = try DPOSettings.Options(kind: .ipo).resolve(over: nil)
    #expect(ipo.loss == DPOLoss(kind: .ipo, beta: 0.1, labelSmoothing: 0) && ipo.precompute)
    let data = FineTuneDataSettings(
      baseModel: "/m", model: tinyConfig(), data: "/d", unit: .pairs, dataCount: 4,
      dataTokens: 40, tokenizerSHA256: "0", maxLength: 32)
    let stored = DPOSettings(
      data: data, loss: DPOLoss(kind: .sigmoid, beta: 0.3, labelSmoothing: 0.2),
      precomputeReference: false)
    // Resumed with nothing given: the stored loss; a new loss drops the stored smoothing and
    // keeps the stored β and reference.
    let same = try DPOSettings.Options().resolve(over: stored)
    #expect(same.loss == stored.loss && !same.precompute)
    let hinge = try DPOSettings.Options(kind: .hinge).resolve(over: stored)
    #expect(hinge.loss == DPOLoss(kind: .hinge, beta: 0.3, labelSmoothing: 0) && !hinge.precompute)
    #expect(throws: TrainingRunError.self) {
      try DPOSettings.Options(kind: .ipo, labelSmoothing: 0.1).resolve(over: nil)
    }
  }
}
