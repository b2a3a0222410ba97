import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// Returns the same batches again and again (one per call, in order).
struct FixedBatches: DataLoader {
  var batches: [SFTBatch]
  var position = 0

  mutating func next() -> SFTBatch {
    defer { position = (position + 1) % batches.count }
    return batches[position]
  }
  var cursor: Int { position }
  mutating func restore(_ cursor: Int) { position = cursor }
  var epoch: Int { 0 }
}

@Suite struct SFTObjectiveTests {
  static let vocabulary = 24

  /// A single-turn sample: prompt tokens unsupervised, the reply and its end token supervised.
  static let single = SFTSample(inputIDs: [1, 5, 6, 7, 8, 2], lossMask: [0, 0, 0, 1, 1, 1])
  /// A short one.
  static let short = SFTSample(inputIDs: [1, 9, 3, 2], lossMask: [0, 0, 1, 1])
  /// Two turns: two supervised spans.
  static let twoTurns = SFTSample(
    inputIDs: [1, 4, 4, 10, 11, 12, 13, 2], lossMask: [0, 0, 1, 1, 0, 0, 1, 1])
  /// Nothing supervised.
  static let unsupervised = SFTSample(inputIDs: [1, 14, 15, 16, 2], lossMask: [0, 0, 0, 0, 0])

  func model(seed: UInt64 = 7) -> Llama {
    Llama(config: tinyConfig(vocabulary: Self.vocabulary, maxPositions: 16), seed: seed)
  }

  @Test func batchShiftsTargetsMasksAndRightPads() {
    let batch = SFTBatch(samples: [Self.single, Self.short], paddingID: 0)
    #expect(batch.rows == 2 && batch.width == 5)
    #expect(batch.inputs == [1, 5, 6, 7, 8, 1, 9, 3, 0, 0])
    #expect(batch.targets == [-100, -100, 7, 8, 2, -100, 3, 2, -100, -100])
    #expect(batch.tokenCount == 8 && batch.supervisedCount == 5 && batch.paddingCount == 2)
    // Cut to 4 tokens: 3 positions, and only the first reply token stays supervised.
    let cut = SFTBatch(samples: [Self.single], paddingID: 0, maxLength: 4)
    #expect(cut.inputs == [1, 5, 6] && cut.targets == [-100, -100, 7])
    #expect(cut.supervisedCount == 1)
  }

  /// The mean over supervised tokens of `-log softmax(logits)[target]`, each sample run alone
  /// (no padding), with the log-softmax computed here in Double.
  func handLoss(_ samples: [SFTSample], model: Llama) -> (loss: Double, count: Int) {
    var total = 0.0
    var count = 0
    for sample in samples {
      let inputs = Array(sample.inputIDs.dropLast())
      let logits = model(inputs).value.scalars
      for t in inputs.indices where sample.lossMask[t + 1] == 1 {
        let row = logits[(t * Self.vocabulary)..<((t + 1) * Self.vocabulary)].map(Double.init)
        let peak = row.max()!
        let logSumExp = peak + log(row.reduce(0) { $0 + exp($1 - peak) })
        total += logSumExp - row[Int(sample.inputIDs[t + 1])]
        count += 1
      }
    }
    return (count > 0 ? total / Double(count) : 0, count)
  }

  @Test func maskedLossEqualsAHandComputation() {
    let llama = model()
    let samples = [Self.single, Self.short, Self.twoTurns, Self.unsupervised]
    let batch = SFTBatch(samples: samples, paddingID: 0)
    let objective = SupervisedFineTuningObjective(model: llama)
    let output = objective.loss(on: batch, tape: nil)
    let (expected, count) = handLoss(samples, model: llama)
    #expect(count == 9 && objective.weight(of: batch) == 9)
    #expect(objective.tokenCount(of: batch) == 5 + 3 + 7 + 4)
    expectClose([output.loss.value.item], [Float(expected)], rtol: 1e-5)
    #expect(output.counts["supervised_tokens"] == 9)
    #expect(output.counts["padding_tokens"] == Double(4 * 7 - 19))
    // The plain mean over every real position would be a different number.
    let unmasked = llama.languageModelLoss(Self.twoTurns.inputIDs).value.item
    let twoTurnsOnly = objective.loss(
      on: SFTBatch(samples: [Self.twoTurns], paddingID: 0), tape: nil)
    #expect(abs(unmasked - twoTurnsOnly.loss.value.item) > 1e-3)
  }

  @Test func anAllMaskedBatchGivesLossZeroAndAZeroGradient() {
    let llama = model()
    let batch = SFTBatch(samples: [Self.unsupervised, Self.unsupervised], paddingID: 3)
    let objective = SupervisedFineTuningObjective(model: llama)
    #expect(objective.weight(of: batch) == 0)
    llama.arena.zeroGradients()
    let loss = llama.valueAndGradient { tape in objective.loss(on: batch, tape: tape).loss }
    #expect(loss == 0)
    let gradients = llama.arena.gradients.scalars
    #expect(gradients.allSatisfy { $0 == 0 }, "every gradient is exactly 0 (none NaN)")
  }

  func trainer(_ llama: Llama, _ batches: [SFTBatch], accumulation: Int) -> Trainer<
    Llama, SupervisedFineTuningObjective, FixedBatches
  > {
    Trainer(
      model: llama, objective: SupervisedFineTuningObjective(model: llama),
      optimizer: AdamW(learningRate: 1e-2),
      schedule: LearningRateSchedule(kind: .constant, peakLearningRate: 1e-2, totalSteps: 1),
      loader: FixedBatches(batches: batches),
      configuration: TrainingConfiguration(
        totalSteps: 1, accumulationSteps: accumulation, maxGradientNorm: nil))
  }

  @Test func accumulatingMicroBatchesEqualsTheWholeBatch() throws {
    let first = SFTBatch(samples: [Self.single], paddingID: 0)
    let second = SFTBatch(samples: [Self.short, Self.twoTurns], paddingID: 0)
    #expect(first.supervisedCount == 3 && second.supervisedCount == 6)
    let whole = SFTBatch(samples: [Self.single, Self.short, Self.twoTurns], paddingID: 0)

    let accumulated = model()
    let stepped = try trainer(accumulated, [first, second], accumulation: 2).step()
    let single = model()
    let reference = try trainer(single, [whole], accumulation: 1).step()

    expectClose([stepped.loss], [reference.loss], rtol: 1e-5)
    // The same sums in another order: each gradient agrees within 1e-5 of its tensor's largest
    // element (whatever the BLAS kernel), and AdamW's first step from it agrees wherever that
    // step is well conditioned.
    for (ours, theirs) in zip(accumulated.arena.parameters, single.arena.parameters) {
      let gradient = theirs.gradient.scalars
      expectCloseScaled(
        ours.gradient.scalars, gradient, rtol: 1e-5, atol: 1e-9, "gradient of \(ours.name)")
      expectCloseAfterFirstAdamWStep(
        ours.value.scalars, theirs.value.scalars, gradient: gradient, learningRate: 1e-2,
        "\(ours.name)")
    }
    #expect(stepped.counts["supervised_tokens"] == 9)
    #expect(stepped.tokens == whole.tokenCount)
    // Weighting matters: the plain mean of the two micro-batch losses is another number.
    let objective = SupervisedFineTuningObjective(model: model())
    let plainMean =
      (objective.loss(on: first, tape: nil).loss.value.item
        + objective.loss(on: second, tape: nil).loss.value.item) / 2
    #expect(abs(plainMean - reference.loss) > 1e-3)
  }

  @Test func aMicroBatchWithNothingSupervisedChangesNothing() throws {
    let empty = SFTBatch(samples: [Self.unsupervised], paddingID: 0)
    let batch = SFTBatch(samples: [Self.single, Self.twoTurns], paddingID: 0)
    let withEmpty = model()
    let stepped = try trainer(withEmpty, [empty, batch], accumulation: 2).step()
    let alone = model()
    let reference = try trainer(alone, [batch], accumulation: 1).step()
    #expect(!stepped.skipped && stepped.loss.isFinite)
    #expect(stepped.loss == reference.loss)
    #expect(withEmpty.arena.gradients.scalars == alone.arena.gradients.scalars)
    #expect(withEmpty.arena.values.scalars == alone.arena.values.scalars)
  }
}
