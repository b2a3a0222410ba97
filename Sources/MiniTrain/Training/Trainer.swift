import Foundation
import MiniAutograd
import MiniTensor

/// The training loop every stage shares (pretraining, SFT, and the alignment stages):
/// gradient accumulation over micro-batches, global-norm clipping, a learning-rate schedule,
/// skipping of non-finite steps with rollback, periodic evaluation, atomic checkpoints with
/// exact resume, metrics, and a stop request honoured at the next step boundary.
///
/// ```swift
/// let trainer = Trainer(
///   model: llama, objective: CausalLanguageModelObjective(model: llama),
///   optimizer: AdamW(), schedule: schedule, loader: loader,
///   configuration: TrainingConfiguration(totalSteps: 1000, accumulationSteps: 4),
///   run: RunDirectory(path: "runs/nano"))
/// try trainer.resume()          // newest valid checkpoint, if any
/// let summary = try trainer.run()
/// ```
///
/// A trainer is owned by one task. With a ``Communicator`` of several ranks, every rank runs the
/// same loop on its own micro-batches; gradients and figures are summed over ranks, and only
/// rank 0 writes files.
public final class Trainer<Model: TrainableModel, Objective: TrainingObjective, Loader: DataLoader>
where Objective.Batch == Loader.Batch {
  /// The model being trained.
  public let model: Model
  /// The loss.
  public let objective: Objective
  /// The update rule (its learning rate is set from ``schedule`` before every step).
  public internal(set) var optimizer: any Optimizer
  /// The learning rate of each step.
  public let schedule: LearningRateSchedule
  /// The training batches.
  public internal(set) var loader: Loader
  /// The fixed held-out batches of every evaluation (this rank's share).
  public let evaluationBatches: [Loader.Batch]
  /// Loop settings.
  public let configuration: TrainingConfiguration
  /// Where metrics and checkpoints go (`nil`: nowhere).
  public let runDirectory: RunDirectory?
  /// Collective operations over ranks.
  public let communicator: any Communicator
  /// Polled at every step boundary (with several ranks, through the vote of each step, so that
  /// all ranks stop after the same step).
  public var stopFlag: StopFlag?
  /// Called with every event (on rank 0 and the others alike).
  public var onEvent: (TrainingEvent) -> Void
  /// The counters saved in checkpoints.
  public internal(set) var progress = TrainingProgress()

  var metrics: MetricsLog?
  var lastSavedStep: Int?
  /// Whether the last step's vote (summed over ranks) asked to stop.
  var stopVoted = false

  /// A trainer; call ``resume()`` to continue from a checkpoint, then ``run()``.
  /// - Precondition: `configuration` is valid.
  public init(
    model: Model, objective: Objective, optimizer: any Optimizer,
    schedule: LearningRateSchedule, loader: Loader, evaluationBatches: [Loader.Batch] = [],
    configuration: TrainingConfiguration, run: RunDirectory? = nil,
    communicator: any Communicator = SingleProcessCommunicator(), stopFlag: StopFlag? = nil,
    onEvent: @escaping (TrainingEvent) -> Void = { _ in }
  ) {
    precondition(
      (try? configuration.validate()) != nil, "Trainer: invalid configuration \(configuration)")
    self.model = model
    self.objective = objective
    self.optimizer = optimizer
    self.schedule = schedule
    self.loader = loader
    self.evaluationBatches = evaluationBatches
    self.configuration = configuration
    self.runDirectory = run
    self.communicator = communicator
    self.stopFlag = stopFlag
    self.onEvent = onEvent
  }

  var arena: ParameterArena { model.arena }

  // MARK: One step

  /// Takes one optimizer step: `accumulationSteps` micro-batches forward and backward (their
  /// gradients weighted so the sum is the gradient of the whole batch's mean loss), gradients
  /// summed over ranks, clipped, and applied, unless the loss or the gradient norm is not
  /// finite, in which case parameters and optimizer state are left untouched and the step is
  /// counted as skipped.
  /// - Throws: what the loader, the objective or the communicator throw.
  @discardableResult
  public func step() throws -> StepReport {
    let start = DispatchTime.now().uptimeNanoseconds
    let learningRate = schedule.learningRate(atStep: progress.step)
    optimizer.learningRate = learningRate
    arena.zeroGradients()

    var batches: [Loader.Batch] = []
    for _ in 0..<configuration.accumulationSteps { batches.append(try loader.next()) }
    let weights = batches.map { objective.weight(of: $0) }
    let totalWeight = try communicator.allReduceSum([weights.reduce(0, +)])[0]

    var lossSum = 0.0
    var tokens = 0
    var metricSums: [String: Double] = [:]
    var countSums: [String: Double] = [:]
    for (batch, weight) in zip(batches, weights) {
      let tape = Tape()
      let output = try objective.loss(on: batch, tape: tape)
      precondition(output.loss.count == 1, "Trainer: the loss has shape \(output.loss.shape)")
      lossSum += weight * Double(output.loss.value.item)
      tokens += objective.tokenCount(of: batch)
      for (name, value) in output.metrics { metricSums[name, default: 0] += weight * value }
      for (name, value) in output.counts { countSums[name, default: 0] += value }
      // A micro-batch of weight 0 (e.g. nothing supervised) adds nothing to the gradient.
      if output.loss.isTracked && totalWeight > 0 && weight > 0 {
        tape.backward(from: output.loss, seed: Tensor(Float(weight / totalWeight)))
      }
    }
    try communicator.allReduceGradients(arena)

    let metricNames = metricSums.keys.sorted()
    let countNames = countSums.keys.sorted()
    let stopVote = stopFlag?.isRequested == true ? 1.0 : 0
    let sums = try communicator.allReduceSum(
      [lossSum, Double(tokens), stopVote] + metricNames.map { metricSums[$0]! }
        + countNames.map { countSums[$0]! })
    stopVoted = sums[2] > 0
    if stopVoted { stopFlag?.request() }
    let loss = totalWeight > 0 ? Float(sums[0] / totalWeight) : 0
    var metricsOut: [String: Double] = [:]
    for (i, name) in metricNames.enumerated() where totalWeight > 0 {
      metricsOut[name] = sums[3 + i] / totalWeight
    }
    var countsOut: [String: Double] = [:]
    for (i, name) in countNames.enumerated() {
      countsOut[name] = sums[3 + metricNames.count + i]
    }

    let norm: Float
    if let maxNorm = configuration.maxGradientNorm {
      norm = arena.clipGradients(maxNorm: maxNorm)
    } else {
      norm = arena.gradientNorm()
    }
    let skipped = !loss.isFinite || !norm.isFinite
    if skipped {
      progress.skippedSteps += 1
      progress.consecutiveSkips += 1
    } else {
      optimizer.update(arena)
      progress.consecutiveSkips = 0
    }
    progress.step += 1
    progress.tokensSeen += Int(sums[1])
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    progress.elapsedSeconds += seconds
    return StepReport(
      step: progress.step, loss: loss, learningRate: learningRate, gradientNorm: norm,
      skipped: skipped, tokens: Int(sums[1]), seconds: seconds, metrics: metricsOut,
      counts: countsOut, epoch: loader.epoch)
  }

  // MARK: Evaluation

  /// The mean loss and metrics over ``evaluationBatches`` (all ranks), without recording a
  /// tape.
  public func evaluate() throws -> EvaluationReport {
    var lossSum = 0.0
    var weightSum = 0.0
    var tokens = 0
    var metricSums: [String: Double] = [:]
    for batch in evaluationBatches {
      let weight = objective.weight(of: batch)
      let output = try objective.loss(on: batch, tape: nil)
      lossSum += weight * Double(output.loss.value.item)
      weightSum += weight
      tokens += objective.tokenCount(of: batch)
      for (name, value) in output.metrics { metricSums[name, default: 0] += weight * value }
    }
    // A rank whose share of the held-out batches is empty has no figures of its own: every
    // rank sums the same names, in the same order.
    let metricNames = try communicator.agreedNames(metricSums.keys.sorted())
    let sums = try communicator.allReduceSum(
      [lossSum, weightSum, Double(tokens)] + metricNames.map { metricSums[$0] ?? 0 })
    var metrics: [String: Double] = [:]
    for (i, name) in metricNames.enumerated() where sums[1] > 0 {
      metrics[name] = sums[3 + i] / sums[1]
    }
    let report = EvaluationReport(
      step: progress.step, loss: sums[1] > 0 ? sums[0] / sums[1] : .nan, tokens: Int(sums[2]),
      metrics: metrics)
    progress.lastEvaluationLoss = report.loss
    return report
  }

  // MARK: The loop

  /// Trains until ``TrainingConfiguration/totalSteps`` or a stop request, evaluating and saving
  /// at the configured intervals; at the end it evaluates (when there are evaluation batches)
  /// and writes a checkpoint.
  /// - Throws: ``TrainerError`` (divergence without a checkpoint, no space for a required
  ///   checkpoint), file errors, and what the components throw.
  @discardableResult
  public func run() throws -> TrainingSummary {
    try openMetrics()
    // Evaluation is collective: a rank whose share of the held-out batches is empty still takes
    // part when another rank has some.
    let evaluates = try communicator.allReduceSum([evaluationBatches.isEmpty ? 0 : 1])[0] > 0
    onEvent(.started(step: progress.step, totalSteps: configuration.totalSteps))
    var lastLoss: Float?
    var lastEvaluation: EvaluationReport?
    var stopped = false
    while progress.step < configuration.totalSteps {
      if stopRequested {
        stopped = true
        break
      }
      let report = try step()
      lastLoss = report.loss
      try log(report)
      onEvent(.stepFinished(report))
      if progress.consecutiveSkips >= configuration.maxConsecutiveSkips {
        try rollBack()
        continue
      }
      let isLast = progress.step == configuration.totalSteps
      if evaluates
        && (isLast
          || (configuration.evaluateEvery > 0 && progress.step % configuration.evaluateEvery == 0))
      {
        let evaluation = try evaluate()
        lastEvaluation = evaluation
        try log(evaluation)
        onEvent(.evaluated(evaluation))
      }
      if stopRequested {
        stopped = !isLast
        break
      }
      if !isLast && configuration.checkpointEvery > 0
        && progress.step % configuration.checkpointEvery == 0
      {
        try saveCheckpoint(required: false)
      }
    }
    if stopped { onEvent(.stopping(step: progress.step)) }
    if lastSavedStep != progress.step { try saveCheckpoint(required: true) }
    let summary = TrainingSummary(
      progress: progress, stoppedEarly: stopped, finalLoss: lastLoss,
      finalEvaluation: lastEvaluation)
    onEvent(.finished(summary))
    return summary
  }

  /// Whether to stop at this step boundary. One rank reads the flag itself; several ranks go by
  /// the vote of the last step, since a signal may reach one rank between the vote and this
  /// check, and a rank that stopped alone would leave the others waiting in a collective.
  var stopRequested: Bool {
    communicator.worldSize > 1 ? stopVoted : stopFlag?.isRequested == true
  }

  /// Replaces the model, optimizer and counters by the newest valid checkpoint after
  /// ``TrainingConfiguration/maxConsecutiveSkips`` non-finite steps; the data position is kept,
  /// so the batches that diverged are not seen again.
  func rollBack() throws {
    let from = progress.step
    guard progress.rollbacks < configuration.maxRollbacks else {
      throw TrainerError.diverged(
        step: from,
        reason: "\(progress.consecutiveSkips) non-finite steps in a row after "
          + "\(progress.rollbacks) rollbacks")
    }
    guard let run = runDirectory, let entry = run.checkpoints.newestValid(rejected: reject) else {
      throw TrainerError.diverged(
        step: from,
        reason: "\(progress.consecutiveSkips) non-finite steps in a row and no checkpoint "
          + "to roll back to")
    }
    let kept = progress
    try restore(from: entry, restoringData: false)
    progress.skippedSteps = kept.skippedSteps
    progress.rollbacks = kept.rollbacks + 1
    progress.consecutiveSkips = 0
    progress.elapsedSeconds = kept.elapsedSeconds
    progress.tokensSeen = kept.tokensSeen
    try logEvent("rollback", [("from_step", .int(from)), ("to_step", .int(entry.step))])
    onEvent(.rolledBack(fromStep: from, to: entry))
  }

  func reject(_ entry: CheckpointStore.Entry, _ error: CheckpointError) {
    onEvent(.checkpointRejected(entry, reason: error.description))
  }

  // MARK: Metrics

  func openMetrics() throws {
    guard metrics == nil, let run = runDirectory, communicator.isPrimary else { return }
    try FileSystem.createDirectory(run.path)
    metrics = try MetricsLog(path: run.metricsPath)
  }

  func log(_ report: StepReport) throws {
    var fields: [(String, MetricValue)] = [
      ("step", .int(report.step)), ("loss", .float(report.loss)),
      ("lr", .float(report.learningRate)), ("grad_norm", .float(report.gradientNorm)),
      ("tokens", .int(report.tokens)),
      ("tokens_per_s", .number((Double(report.tokens) / max(report.seconds, 1e-9)).rounded())),
      ("elapsed", .number((progress.elapsedSeconds * 1000).rounded() / 1000)),
      ("skipped", .bool(report.skipped)), ("epoch", .int(report.epoch)),
    ]
    for name in report.metrics.keys.sorted() {
      fields.append((name, .number(report.metrics[name]!)))
    }
    for name in report.counts.keys.sorted() {
      let value = report.counts[name]!
      let isWhole = value == value.rounded() && abs(value) < 1e15
      fields.append((name, isWhole ? .int(Int(value)) : .number(value)))
    }
    try metrics?.append(fields)
  }

  func log(_ evaluation: EvaluationReport) throws {
    var fields: [(String, MetricValue)] = [
      ("step", .int(evaluation.step)), ("eval_loss", .number(evaluation.loss)),
      ("eval_perplexity", .number(evaluation.perplexity)), ("eval_tokens", .int(evaluation.tokens)),
    ]
    for name in evaluation.metrics.keys.sorted() {
      fields.append(("eval_" + name, .number(evaluation.metrics[name]!)))
    }
    try metrics?.append(fields)
  }

  func logEvent(_ name: String, _ fields: [(String, MetricValue)]) throws {
    try metrics?.append([("step", .int(progress.step)), ("event", .string(name))] + fields)
  }
}
