import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// Wraps the causal LM objective and corrupts chosen calls: a NaN loss, or an infinite gradient
/// in one element of the embedding.
final class FaultyObjective: TrainingObjective {
  enum Fault { case nanLoss, infiniteGradient }
  let base: CausalLanguageModelObjective
  var faults: [Int: Fault]
  private(set) var calls = 0

  init(model: Llama, faults: [Int: Fault] = [:]) {
    base = CausalLanguageModelObjective(model: model)
    self.faults = faults
  }

  func loss(on batch: TokenBatch, tape: Tape?) throws -> ObjectiveOutput {
    defer { calls += 1 }
    var output = base.loss(on: batch, tape: tape)
    guard tape != nil, let fault = faults[calls] else { return output }
    switch fault {
    case .nanLoss:
      output.loss = output.loss * Variable(Tensor(Float.nan))
    case .infiniteGradient:
      let embedding = base.model.arena.parameters[0]
      let shape = embedding.shape
      let probe = Variable.operation(
        inputs: [embedding.variable(on: tape)], value: Tensor(Float(0))
      ) { _ in
        var gradient = Tensor.zeros(shape)
        gradient.withUnsafeMutableBufferPointer { $0[5] = .infinity }
        return [gradient]
      }
      output.loss = output.loss + probe
    }
    return output
  }

  func weight(of batch: TokenBatch) -> Double { base.weight(of: batch) }
  func tokenCount(of batch: TokenBatch) -> Int { base.tokenCount(of: batch) }
}

/// Sums over two "ranks" that hold the same values: every sum doubles.
final class MirroredPairCommunicator: Communicator {
  var rank: Int { 0 }
  var worldSize: Int { 2 }
  private(set) var gradientReductions = 0
  func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {
    gradientReductions += 1
    for i in buffer.indices { buffer[i] *= 2 }
  }
  func allReduceSum(_ values: [Double]) -> [Double] { values.map { $0 * 2 } }
  func barrier() {}
}

@Suite struct TrainerTests {
  struct Setup {
    let llama: Llama
    let loader: TokenWindowLoader
    let heldOut: [TokenBatch]
  }

  func setup(seed: UInt64 = 1, microBatch: Int = 2) throws -> Setup {
    let dataset = try writeDataset(
      patternDocuments(count: 60, vocabulary: 64), vocabulary: 64, into: try temporaryDirectory())
    let (training, heldOut) = TokenWindows(dataset: dataset, sequenceLength: 16)
      .split(heldOutFraction: 0.1)
    return Setup(
      llama: Llama(config: tinyConfig(), seed: seed),
      loader: TokenWindowLoader(windows: training, batchSize: microBatch, seed: seed),
      heldOut: try heldOut.sequentialBatches(batchSize: 4, limit: 2))
  }

  func schedule(_ steps: Int) -> LearningRateSchedule {
    LearningRateSchedule(
      kind: .cosine, peakLearningRate: 3e-3, minimumLearningRate: 3e-4, warmupSteps: 2,
      totalSteps: steps)
  }

  @Test(arguments: [FaultyObjective.Fault.nanLoss, .infiniteGradient])
  func aNonFiniteStepIsSkippedWithStateBitwiseUnchanged(_ fault: FaultyObjective.Fault) throws {
    let s = try setup()
    // Calls 0–3 are steps 1–2 (two micro-batches each); the fault hits step 3's second.
    let objective = FaultyObjective(model: s.llama, faults: [5: fault])
    let trainer = Trainer(
      model: s.llama, objective: objective, optimizer: AdamW(learningRate: 1e-3),
      schedule: schedule(10), loader: s.loader,
      configuration: TrainingConfiguration(totalSteps: 10, accumulationSteps: 2))
    try trainer.step()
    try trainer.step()
    let before = arenaBits(s.llama.arena)
    let report = try trainer.step()
    #expect(report.skipped)
    #expect(fault == .nanLoss ? report.loss.isNaN : report.gradientNorm == .infinity)
    #expect(fault == .nanLoss || report.loss.isFinite)
    let after = arenaBits(s.llama.arena)
    #expect(after.values == before.values)
    #expect(after.first == before.first)
    #expect(after.second == before.second)
    #expect(trainer.optimizer.step == 2)
    #expect(trainer.progress.skippedSteps == 1)
    #expect(trainer.progress.consecutiveSkips == 1)
    #expect(trainer.progress.step == 3)
    // The next step trains again and resets the detector.
    let next = try trainer.step()
    #expect(!next.skipped)
    #expect(trainer.optimizer.step == 3)
    #expect(trainer.progress.consecutiveSkips == 0)
    #expect(arenaBits(s.llama.arena).values != before.values)
  }

  @Test func threeBadStepsInARowRollBackToTheLastCheckpoint() throws {
    let s = try setup()
    let run = RunDirectory(path: try temporaryDirectory())
    // Steps 5, 6 and 7 (calls 8…13) get a NaN loss.
    let faults = Dictionary(
      uniqueKeysWithValues: (8..<14).map { ($0, FaultyObjective.Fault.nanLoss) })
    let objective = FaultyObjective(model: s.llama, faults: faults)
    var events: [String] = []
    var weightsAtRollback: [UInt32] = []
    let trainer = Trainer(
      model: s.llama, objective: objective, optimizer: AdamW(learningRate: 1e-3),
      schedule: schedule(10), loader: s.loader,
      configuration: TrainingConfiguration(
        totalSteps: 10, accumulationSteps: 2, checkpointEvery: 4),
      run: run
    ) { event in
      switch event {
      case .rolledBack(let from, let entry):
        events.append("rollback \(from)->\(entry.step)")
        weightsAtRollback = s.llama.arena.values.scalars.map(\.bitPattern)
      case .checkpointSaved(let entry, _): events.append("saved \(entry.step)")
      default: break
      }
    }
    let summary = try trainer.run()
    #expect(events == ["saved 4", "rollback 7->4", "saved 8", "saved 10"])
    let checkpoint = try SafeTensorsFile(
      path: run.path + "/checkpoints/step-000004/model.safetensors")
    let saved = try s.llama.arena.parameters.flatMap {
      try checkpoint.tensor(named: $0.name).scalars.map(\.bitPattern)
    }
    #expect(weightsAtRollback == saved)
    #expect(summary.progress.step == 10)
    #expect(summary.progress.skippedSteps == 3)
    #expect(summary.progress.rollbacks == 1)
    let lines = MetricsLog.read(path: run.metricsPath)
    #expect(lines.contains { $0["event"] as? String == "rollback" })
    #expect(lines.filter { ($0["skipped"] as? Bool) == true }.count == 3)
  }

  @Test func divergingWithoutACheckpointIsAnError() throws {
    let s = try setup()
    let faults = Dictionary(
      uniqueKeysWithValues: (0..<6).map { ($0, FaultyObjective.Fault.nanLoss) })
    let trainer = Trainer(
      model: s.llama, objective: FaultyObjective(model: s.llama, faults: faults),
      optimizer: AdamW(), schedule: schedule(10), loader: s.loader,
      configuration: TrainingConfiguration(totalSteps: 10, accumulationSteps: 2),
      run: RunDirectory(path: try temporaryDirectory()))
    #expect(throws: TrainerError.self) { try trainer.run() }
  }

  @Test func accumulatedMicroBatchesGiveTheBigBatchGradient() throws {
    let s = try setup(microBatch: 4)
    var loader = s.loader
    let big = try loader.next()
    let width = big.sequenceLength + 1
    let halves = [0, 2].map {
      TokenBatch(
        tokens: Array(big.tokens[($0 * width)..<(($0 + 2) * width)]), rows: 2,
        sequenceLength: big.sequenceLength)
    }
    struct Fixed: DataLoader {
      var batches: [TokenBatch]
      var index = 0
      mutating func next() -> TokenBatch {
        defer { index += 1 }
        return batches[index % batches.count]
      }
      var cursor: Int { index }
      mutating func restore(_ cursor: Int) { index = cursor }
      var epoch: Int { 0 }
    }
    func gradient(_ batches: [TokenBatch], accumulation: Int) throws -> ([[Float]], Float) {
      let llama = Llama(config: tinyConfig(), seed: 4)
      let trainer = Trainer(
        model: llama, objective: CausalLanguageModelObjective(model: llama),
        optimizer: SGD(learningRate: 0), schedule: schedule(4), loader: Fixed(batches: batches),
        configuration: TrainingConfiguration(
          totalSteps: 1, accumulationSteps: accumulation, maxGradientNorm: nil))
      let report = try trainer.step()
      return (llama.arena.parameters.map(\.gradient.scalars), report.loss)
    }
    let (whole, wholeLoss) = try gradient([big], accumulation: 1)
    let (accumulated, accumulatedLoss) = try gradient(halves, accumulation: 2)
    // Same sums in another order: each gradient within 1e-5 of its tensor's largest element (the
    // rounding of a sum scales with its largest terms, whatever the BLAS kernel).
    #expect(accumulated.count == whole.count)
    for (index, (ours, theirs)) in zip(accumulated, whole).enumerated() {
      expectCloseScaled(ours, theirs, rtol: 1e-5, atol: 1e-9, "parameter \(index)")
    }
    #expect(abs(accumulatedLoss - wholeLoss) < 1e-5)
  }

  @Test func gradientsAreSummedOverRanks() throws {
    // Two ranks with identical data: each rank's weights are halved, so the summed gradient
    // and every figure equal those of one process.
    func run(_ communicator: any Communicator) throws -> (StepReport, [UInt32]) {
      let s = try setup()
      let trainer = Trainer(
        model: s.llama, objective: CausalLanguageModelObjective(model: s.llama),
        optimizer: AdamW(learningRate: 1e-3), schedule: schedule(4), loader: s.loader,
        configuration: TrainingConfiguration(totalSteps: 4, accumulationSteps: 2),
        communicator: communicator)
      let report = try trainer.step()
      return (report, s.llama.arena.values.scalars.map(\.bitPattern))
    }
    let pair = MirroredPairCommunicator()
    let (single, singleValues) = try run(SingleProcessCommunicator())
    let (mirrored, mirroredValues) = try run(pair)
    #expect(pair.gradientReductions == 1)
    #expect(mirrored.loss == single.loss)
    #expect(mirrored.gradientNorm == single.gradientNorm)
    #expect(mirrored.tokens == 2 * single.tokens)
    #expect(mirroredValues == singleValues)
  }

  @Test(arguments: [UInt64(1), 7])
  func resumingAfterAStopContinuesBitForBit(seed: UInt64) throws {
    func trainer(_ run: RunDirectory, stop: StopFlag? = nil, stopAt: Int? = nil) throws -> (
      Trainer<Llama, CausalLanguageModelObjective, TokenWindowLoader>, Llama
    ) {
      let s = try setup(seed: seed)
      let flag = stop
      let trainer = Trainer(
        model: s.llama, objective: CausalLanguageModelObjective(model: s.llama),
        optimizer: AdamW(learningRate: 1e-3), schedule: schedule(12), loader: s.loader,
        evaluationBatches: s.heldOut,
        configuration: TrainingConfiguration(
          totalSteps: 12, accumulationSteps: 2, maxGradientNorm: 0.05, evaluateEvery: 4,
          checkpointEvery: 5, keepLast: 2),
        run: run, stopFlag: flag
      ) { event in
        if case .stepFinished(let report) = event, report.step == stopAt { flag?.request() }
      }
      return (trainer, s.llama)
    }
    let straight = RunDirectory(path: try temporaryDirectory())
    let (a, modelA) = try trainer(straight)
    try a.run()

    let interrupted = RunDirectory(path: try temporaryDirectory())
    let (b, _) = try trainer(interrupted, stop: StopFlag(), stopAt: 7)
    let partial = try b.run()
    #expect(partial.stoppedEarly)
    #expect(partial.progress.step == 7)
    let (c, modelC) = try trainer(interrupted)
    let entry = try c.resume()
    #expect(entry?.step == 7)
    try c.run()

    #expect(
      modelC.arena.values.scalars.map(\.bitPattern) == modelA.arena.values.scalars.map(\.bitPattern)
    )
    let lossesA = stepLosses(straight.metricsPath)
    #expect(lossesA.count == 12)
    #expect(stepLosses(interrupted.metricsPath) == lossesA)
    // Clipping was active (the threshold is below the norms seen).
    let norms = MetricsLog.read(path: straight.metricsPath).compactMap {
      ($0["grad_norm"] as? NSNumber)?.floatValue
    }
    #expect(norms.contains { $0 > 0.05 })
    let a12 = try Data(
      contentsOf: URL(fileURLWithPath: straight.path + "/checkpoints/step-000012/model.safetensors")
    )
    let c12 = try Data(
      contentsOf: URL(
        fileURLWithPath: interrupted.path + "/checkpoints/step-000012/model.safetensors"))
    #expect(a12 == c12)
  }

  @Test func freshRunRefusesANonEmptyDirectory() throws {
    let directory = try temporaryDirectory()
    try Data("mine".utf8).write(to: URL(fileURLWithPath: directory + "/notes.txt"))
    let run = RunDirectory(path: directory)
    #expect(throws: CheckpointError.self) { try run.prepare(.fresh) }
    try Data("{}".utf8).write(to: URL(fileURLWithPath: run.metricsPath))
    try run.prepare(.overwrite)
    // Only what a run writes is removed.
    #expect(FileManager.default.fileExists(atPath: directory + "/notes.txt"))
    #expect(!FileManager.default.fileExists(atPath: run.metricsPath))
  }
}
