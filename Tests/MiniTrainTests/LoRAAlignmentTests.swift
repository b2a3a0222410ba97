import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// DPO with adapters, the reference being the same base with its adapters disabled (no second
/// copy of the model), on the real Chinese preference pairs.
@Suite("LoRA alignment", .serialized, .requires(.shared("corpora/dpo_zh_demo.json")))
struct LoRAAlignmentTests {
  @Test func loraDPOStartsAtLn2AndRaisesRewardAccuracy() async throws {
    guard let corpus = await PreferenceCorpus.load() else { return }
    let dataset = try PreferenceDataset(directory: corpus.dataDirectory)
    let base = Llama(
      config: AlignmentTrainingTests.config(vocabulary: dataset.vocabularySize), seed: 1)
    let model = try FineTuneModel(
      base: base, lora: LoRAConfiguration(rank: 8, alpha: 16), seed: 2)
    let (training, _) = PreferencePairs(dataset: dataset, maxLength: 256)
      .split(heldOutFraction: 0.6, seed: 1)
    let objective = DPOObjective(
      policy: model.llama, reference: .model(model.base), criterion: DPOLoss(beta: 0.1))
    let batches = training.sequentialBatches(batchSize: 8)
    let before = try AlignmentTrainingTests.evaluate(objective, batches)
    // The adapters start at zero: policy = reference.
    #expect(abs(before["loss"]! - log(2)) < 1e-5)
    #expect(before["reward_accuracy"]! == 0)

    let steps = 24
    let trainer = Trainer(
      model: model, objective: objective, optimizer: AdamW(learningRate: 1e-2, weightDecay: 0),
      schedule: LearningRateSchedule(
        kind: .cosine, peakLearningRate: 1e-2, minimumLearningRate: 1e-3, warmupSteps: 2,
        totalSteps: steps),
      loader: PreferenceLoader(pairs: training, batchSize: 4, seed: 2),
      configuration: TrainingConfiguration(totalSteps: steps))
    try trainer.run()
    let after = try AlignmentTrainingTests.evaluate(objective, batches)
    print(
      "LoRA DPO on \(training.count) pairs, \(steps) steps: reward accuracy "
        + "\(after["reward_accuracy"]!), loss \(before["loss"]!) → \(after["loss"]!)")
    #expect(after["reward_accuracy"]! >= 0.7)
    #expect(after["loss"]! < before["loss"]! - 0.05)
    #expect(!base.arena.hasGradients)
  }
}
