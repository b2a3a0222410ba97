import Foundation
import MiniTensor

/// One stage of training as ``TrainingRun`` runs it: the stage works out its settings and
/// builds its model, objective and data; the run does the rest.
public protocol TrainingStage {
  /// What the stage stores in `RUN/config.json` besides the training settings.
  associatedtype Settings: StageSettings
  associatedtype Model: TrainableModel
  associatedtype Objective: TrainingObjective
  associatedtype Loader: DataLoader where Loader.Batch == Objective.Batch

  /// Reads the stage's inputs and works out the settings of this session: those given, over
  /// `stored` (the settings of the run being resumed, if any), over the stage's defaults,
  /// checked against the model and data.
  /// - Returns: the configuration, and what builds the model, objective and data of this
  ///   process once the run's folder is prepared.
  /// - Throws: one line naming the setting or file at fault.
  func prepare(stored: RunConfiguration<Settings>?, in run: TrainingRun) throws -> (
    configuration: RunConfiguration<Settings>,
    session: () throws -> TrainingSession<Model, Objective, Loader>
  )
}

/// What a ``TrainingStage`` trains: the model, the objective, this process's loader and share of
/// the held-out batches, and a line describing them.
public struct TrainingSession<
  Model: TrainableModel, Objective: TrainingObjective, Loader: DataLoader
> where Objective.Batch == Loader.Batch {
  /// The model; its `save(to:)` writes the checkpoints and `RUN/model/`.
  public var model: Model
  public var objective: Objective
  public var loader: Loader
  /// This process's share of the held-out batches.
  public var evaluationBatches: [Loader.Batch]
  /// One line describing the model, data and batch, shown before training.
  public var summary: String
  /// What one element of a batch is (`sequences`, `pairs`).
  public var unit: String

  /// A session of `model` trained on `loader` with `objective`.
  public init(
    model: Model, objective: Objective, loader: Loader, evaluationBatches: [Loader.Batch],
    summary: String, unit: String = "sequences"
  ) {
    self.model = model
    self.objective = objective
    self.loader = loader
    self.evaluationBatches = evaluationBatches
    self.summary = summary
    self.unit = unit
  }
}

/// What a finished run produced.
public struct TrainingRunResult {
  /// The trainer's summary.
  public var summary: TrainingSummary
  /// `RUN/model`.
  public var modelPath: String
  /// The figures as one JSON object (keys sorted): `steps`, `tokens`, `skipped_steps`,
  /// `model`, `seconds`, `final_loss`, and `eval_loss` with `eval_perplexity` or the
  /// objective's `eval_*` figures.
  public var json: String
}

/// A training run in a run directory, whatever the stage: prepares the folder (fresh, resumed
/// or overwritten, refusing settings that cannot continue the stored run exactly), writes
/// `RUN/config.json`, runs a ``Trainer`` over the stage's model, objective and loader
/// (checkpoints, metrics, evaluation), and at the end writes `RUN/model/` and the result.
///
/// ```swift
/// let run = TrainingRun(directory: "runs/sft", mode: .fresh, label: "sft")
/// if let result = try run.run(stage) { print(result.json) }
/// ```
///
/// With a ``Communicator`` of several ranks, every rank runs the same stage on its share of
/// each batch; every step of preparation is agreed on by all ranks, and rank 0 alone writes
/// files and messages.
public final class TrainingRun {
  /// The run folder.
  public let directory: RunDirectory
  /// Fresh, resumed or overwritten.
  public let mode: RunDirectory.Mode
  /// The stage name shown in brackets in messages (`[sft] …`).
  public let label: String
  /// The ranks training together.
  public let communicator: any Communicator
  /// Polled at every step boundary: a request stops the run after a checkpoint.
  public var stopFlag: StopFlag?
  /// Called with every training event (on every rank).
  public var onEvent: (TrainingEvent) -> Void = { _ in }
  /// Told the run's messages (rank 0 only).
  public var log: (String) -> Void

  /// A run in `directory`.
  /// - Parameter log: told the run's messages (rank 0 only); nothing by default.
  public init(
    directory: String, mode: RunDirectory.Mode = .fresh, label: String,
    communicator: any Communicator = SingleProcessCommunicator(),
    log: @escaping (String) -> Void = { _ in }
  ) {
    self.directory = RunDirectory(path: directory)
    self.mode = mode
    self.label = label
    self.communicator = communicator
    self.log = log
  }

  /// Whether the run continues from its newest valid checkpoint.
  public var isResuming: Bool { if case .resume = mode { true } else { false } }

  /// Tells `line` on rank 0.
  public func note(_ line: String) {
    if communicator.isPrimary { log(line) }
  }

  /// Runs `stage`: ``start(_:)``, then ``train(_:settings:)``.
  /// - Returns: the result, or `nil` when a stop request ended the run before its last step
  ///   (a checkpoint was written; `RUN/model/` was not).
  /// - Throws: ``TrainingRunError`` naming the setting or file at fault, and what training
  ///   throws.
  @discardableResult
  public func run<Stage: TrainingStage>(_ stage: Stage) throws -> TrainingRunResult? {
    let (session, settings) = try start(stage)
    return try train(session, settings: settings)
  }

  /// Prepares `stage` on every rank: reads the stored configuration (when resuming), works
  /// out and checks the settings, prepares the folder and writes `RUN/config.json` (rank 0),
  /// and builds the session. Every rank throws when one fails.
  public func start<Stage: TrainingStage>(_ stage: Stage) throws -> (
    session: TrainingSession<Stage.Model, Stage.Objective, Stage.Loader>,
    settings: TrainingSettings
  ) {
    let stored = try communicator.agree { try storedConfiguration(Stage.Settings.self) }
    let (configuration, session) = try communicator.agree {
      let prepared = try stage.prepare(stored: stored, in: self)
      if let stored { try checkResumable(prepared.configuration, stored: stored) }
      return prepared
    }
    try communicator.agree { if communicator.isPrimary { try prepare(configuration) } }
    return (try communicator.agree { try session() }, configuration.training)
  }

  /// The configuration an earlier session stored in `RUN/config.json`, when resuming a run
  /// that has one.
  public func storedConfiguration<Settings: StageSettings>(_: Settings.Type) throws
    -> RunConfiguration<Settings>?
  {
    guard isResuming, FileManager.default.fileExists(atPath: directory.configurationPath) else {
      return nil
    }
    return try RunConfiguration<Settings>.read(directory.configurationPath)
  }

  /// Checks that `configuration` can continue `stored` exactly.
  /// - Throws: one line naming the settings that differ from the stored run.
  public func checkResumable<Settings>(
    _ configuration: RunConfiguration<Settings>, stored: RunConfiguration<Settings>
  ) throws {
    let differences = configuration.structuralDifferences(from: stored)
    if !differences.isEmpty {
      throw TrainingRunError.setting(
        "--resume",
        "\(directory.configurationPath) was written with other settings, so the checkpoint "
          + "cannot continue exactly (" + differences.joined(separator: "; ")
          + "); drop those flags or start a new run")
    }
  }

  /// Prepares the folder (fresh, resumed or overwritten) and writes `RUN/config.json`.
  /// - Throws: why the folder cannot be used.
  public func prepare<Settings>(_ configuration: RunConfiguration<Settings>) throws {
    do {
      try directory.prepare(mode)
    } catch let error as CheckpointError {
      let hint = error.message.replacingOccurrences(
        of: "resume the run or overwrite it",
        with: "pass --resume to continue it or --overwrite to start over")
      throw TrainingRunError.setting("--out", "\(error.path) is \(hint)")
    }
    try directory.writeConfiguration(configuration.encoded())
  }

  /// Trains `session` with `settings` in the prepared folder (resuming when asked), then
  /// writes `RUN/model/`.
  /// - Returns: the result, or `nil` when a stop request ended the run early.
  public func train<Model, Objective, Loader>(
    _ session: TrainingSession<Model, Objective, Loader>, settings: TrainingSettings
  ) throws -> TrainingRunResult? {
    let trainer = Trainer(
      model: session.model, objective: session.objective, optimizer: settings.optimizer,
      schedule: settings.schedule, loader: session.loader,
      evaluationBatches: session.evaluationBatches, configuration: settings.training,
      run: directory, communicator: communicator, stopFlag: stopFlag, onEvent: onEvent)
    let ranks = communicator.worldSize
    let threads = threadCount()
    note(
      "[\(label)] \(session.summary), \(settings.training.totalSteps) steps of "
        + "\(settings.batchSize) \(session.unit) (\(ranks > 1 ? "\(ranks) processes × " : "")"
        + "\(settings.training.accumulationSteps) × \(settings.microBatchSize)), "
        + "\(ranks > 1 ? "\(ranks) processes of " : "")"
        + "\(threads) thread\(threads == 1 ? "" : "s")")
    if isResuming {
      try communicator.agree {
        do {
          try trainer.resume()
        } catch {
          throw TrainingRunError.setting("--resume", "\(error)")
        }
      }
    }
    let summary = try trainer.run()
    try communicator.expectSameWeights(session.model.arena)
    if ranks > 1 { note("[\(label)] the \(ranks) processes hold identical weights") }
    if summary.stoppedEarly {
      note("[\(label)] stopped at step \(summary.progress.step); continue with --resume")
      return nil
    }
    let outputPath = directory.path + "/" + session.model.outputFolderName
    if communicator.isPrimary { try session.model.save(to: outputPath) }
    note("[\(label)] \(session.model.outputFolderName) written to \(outputPath)")
    return TrainingRunResult(
      summary: summary, modelPath: outputPath,
      json: try Self.json(summary, modelPath: outputPath))
  }

  /// The figures of `summary` as one JSON object.
  static func json(_ summary: TrainingSummary, modelPath: String) throws -> String {
    var figures: [String: Any] = [
      "steps": summary.progress.step, "tokens": summary.progress.tokensSeen,
      "skipped_steps": summary.progress.skippedSteps, "model": modelPath,
      "seconds": (summary.progress.elapsedSeconds * 100).rounded() / 100,
    ]
    if let loss = summary.finalLoss, loss.isFinite { figures["final_loss"] = Double(loss) }
    if let evaluation = summary.finalEvaluation {
      figures["eval_loss"] = evaluation.loss
      if evaluation.metrics.isEmpty { figures["eval_perplexity"] = evaluation.perplexity }
      for (name, value) in evaluation.metrics { figures["eval_" + name] = value }
    }
    let data = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
    return String(decoding: data, as: UTF8.self)
  }
}
