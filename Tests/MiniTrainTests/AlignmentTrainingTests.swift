import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// DPO and reward-model training on the real Chinese preference pairs of
/// `../shared/corpora/dpo_zh_demo.json` with tiny models.
@Suite("Alignment training", .serialized, .requires(.shared("corpora/dpo_zh_demo.json")))
struct AlignmentTrainingTests {
  static func config(vocabulary: Int) -> LlamaConfig {
    LlamaConfig(
      vocabSize: vocabulary, hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 4,
      kvHeadCount: 2, maxPositions: PreferenceCorpus.maxLength)
  }

  /// Mean metrics of `objective` over `batches`, weighted by pairs.
  static func evaluate<O: TrainingObjective>(_ objective: O, _ batches: [PreferenceBatch]) throws
    -> [String: Double] where O.Batch == PreferenceBatch
  {
    var sums: [String: Double] = [:]
    var weight = 0.0
    for batch in batches {
      let output = try objective.loss(on: batch, tape: nil)
      let w = objective.weight(of: batch)
      for (name, value) in output.metrics { sums[name, default: 0] += w * value }
      sums["loss", default: 0] += w * Double(output.loss.value.item)
      weight += w
    }
    return sums.mapValues { $0 / weight }
  }

  @Test func dpoRaisesRewardAccuracyAndMarginOnTheTrainingPairs() async throws {
    guard let corpus = await PreferenceCorpus.load() else { return }
    let dataset = try PreferenceDataset(directory: corpus.dataDirectory)
    let config = Self.config(vocabulary: dataset.vocabularySize)
    let policy = Llama(config: config, seed: 1)
    let reference = Llama(config: config, seed: 1)
    // The shorter pairs, a subset the tiny policy can fit in a few epochs.
    let (training, _) = PreferencePairs(dataset: dataset, maxLength: 256)
      .split(heldOutFraction: 0.6, seed: 1)
    let cache = ReferenceLogProbabilities.compute(model: reference, pairs: training, batchSize: 8)
    let objective = DPOObjective(
      policy: policy, reference: .cached(cache), criterion: DPOLoss(beta: 0.1))
    let batches = training.sequentialBatches(batchSize: 8)
    let before = try Self.evaluate(objective, batches)
    // Policy = reference: every reward is 0, so no pair counts as won yet.
    #expect(abs(before["loss"]! - log(2)) < 1e-5)
    #expect(before["reward_accuracy"]! == 0 && abs(before["margin"]!) < 1e-6)

    let steps = 24
    let run = RunDirectory(path: try temporaryDirectory("dpo-run"))
    let trainer = Trainer(
      model: policy, objective: objective, optimizer: AdamW(learningRate: 3e-3),
      schedule: LearningRateSchedule(
        kind: .cosine, peakLearningRate: 3e-3, minimumLearningRate: 3e-4, warmupSteps: 4,
        totalSteps: steps),
      loader: PreferenceLoader(pairs: training, batchSize: 4, seed: 2),
      configuration: TrainingConfiguration(totalSteps: steps),
      run: run)
    try trainer.run()
    let after = try Self.evaluate(objective, batches)
    print(
      "DPO on \(training.count) pairs, \(steps) steps: reward accuracy \(after["reward_accuracy"]!), "
        + "margin \(after["margin"]!), loss \(before["loss"]!) → \(after["loss"]!)")
    #expect(after["reward_accuracy"]! >= 0.8)
    #expect(after["margin"]! > 0.5)
    #expect(after["loss"]! < before["loss"]! - 0.1)

    // The metrics log carries the DPO figures; its margin grows over the run.
    let records = MetricsLog.read(path: run.metricsPath).filter { $0["event"] == nil }
    #expect(records.count == steps)
    for key in [
      "loss", "chosen_reward", "rejected_reward", "reward_accuracy", "margin", "chosen_logp",
      "rejected_logp",
    ] {
      #expect(records.allSatisfy { $0[key] is NSNumber }, "\(key) missing")
    }
    let margins = records.map { ($0["margin"] as! NSNumber).doubleValue }
    let early = margins.prefix(4).reduce(0, +) / 4
    let late = margins.suffix(4).reduce(0, +) / 4
    #expect(late > early + 0.3, "margin \(early) → \(late)")
  }

  @Test func rewardModelBeatsChanceOnHeldOutPairsWithSampledRejectedAnswers() async throws {
    guard let corpus = await PreferenceCorpus.load() else { return }
    let vocabulary = corpus.tokenizer.vocabularySize
    let config = Self.config(vocabulary: vocabulary)

    // "SFT model": a tiny Llama briefly trained on the prompts with their chosen replies.
    let pairs = PreferencePairs(dataset: try PreferenceDataset(directory: corpus.dataDirectory))
    let documents = (0..<pairs.count).map { pairs[$0].promptIDs + pairs[$0].chosenIDs }
    let windows = TokenWindows(
      dataset: try writeDataset(
        documents, vocabulary: vocabulary, into: try temporaryDirectory("sft-data")),
      sequenceLength: 64)
    let sft = Llama(config: config, seed: 3)
    let sftSteps = 60
    try Trainer(
      model: sft, objective: CausalLanguageModelObjective(model: sft),
      optimizer: AdamW(learningRate: 5e-3),
      schedule: LearningRateSchedule(
        kind: .cosine, peakLearningRate: 5e-3, minimumLearningRate: 5e-4, warmupSteps: 5,
        totalSteps: sftSteps),
      loader: TokenWindowLoader(windows: windows, batchSize: 8, seed: 3),
      configuration: TrainingConfiguration(totalSteps: sftSteps)
    ).run()

    // Pairs from the same prompts: the reference answer chosen, the SFT model's sample rejected.
    let sampler = RejectedAnswerSampler(
      model: sft, tokenizer: corpus.tokenizer, sampling: SamplingOptions(temperature: 1, seed: 4),
      maxNewTokens: 32, stopTokens: Set(corpus.renderer.stopTokenIDs.map(Int32.init)))
    let generated = try temporaryDirectory("generated")
    var options = PreferenceOptions()
    options.maxLength = config.maxPositions
    let index = try await PreferencePipeline.run(
      inputs: [corpus.conversationsFile], renderer: corpus.renderer,
      tokenizerFile: ("tokenizer.model", corpus.tokenizer.modelBytes), output: generated,
      options: options, rejectedGenerator: sampler.generator())
    #expect(index.generatedRejected == index.kept && index.kept >= 60)

    let data = PreferencePairs(dataset: try PreferenceDataset(directory: generated))
    let (training, heldOut) = data.split(heldOutFraction: 0.25, seed: 5)
    let sftDirectory = try temporaryDirectory("sft-model")
    try sft.save(to: sftDirectory)
    let model = try RewardModel(languageModelDirectory: sftDirectory, seed: 6)
    let objective = RewardObjective(model: model)
    let evaluation = heldOut.sequentialBatches(batchSize: 8)
    let before = try Self.evaluate(objective, evaluation)
    let steps = 24
    let run = RunDirectory(path: try temporaryDirectory("rm-run"))
    let summary = try Trainer(
      model: model, objective: objective, optimizer: AdamW(learningRate: 2e-3),
      schedule: LearningRateSchedule(
        kind: .cosine, peakLearningRate: 2e-3, minimumLearningRate: 2e-4, warmupSteps: 4,
        totalSteps: steps),
      loader: PreferenceLoader(pairs: training, batchSize: 8, seed: 7),
      evaluationBatches: evaluation,
      configuration: TrainingConfiguration(totalSteps: steps, evaluateEvery: 12), run: run
    ).run()
    let final = try #require(summary.finalEvaluation)
    let accuracy = try #require(final.metrics["accuracy"])
    print(
      "reward model: \(training.count) training pairs, held-out accuracy \(before["accuracy"]!) → "
        + "\(accuracy) on \(heldOut.count) pairs, margin \(final.metrics["margin"]!)")
    #expect(accuracy >= 0.7)
    #expect(final.metrics["margin"]! > 0)
    // Evaluation lines of the metrics log carry the held-out accuracy and margin.
    let evaluations = MetricsLog.read(path: run.metricsPath).filter { $0["eval_loss"] != nil }
    #expect(evaluations.count == 2)
    #expect(
      evaluations.allSatisfy { $0["eval_accuracy"] is NSNumber && $0["eval_margin"] is NSNumber })
  }
}
