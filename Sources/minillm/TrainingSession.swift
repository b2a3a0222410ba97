import Foundation
import MiniTensor
import MiniTrain

/// One session of a training command, whatever the stage: runs a ``Trainer`` over the given
/// model, objective and loader with SIGINT/SIGTERM handling, progress on stderr, `--resume`,
/// the test faults, and at the end writes `RUN/model/` and prints one JSON line of results.
/// Under `mpirun`, every rank runs the session with its own loader; rank 0 alone prints and
/// writes files.
struct TrainingSession<Model: TrainableModel, Objective: TrainingObjective, Loader: DataLoader>
where Objective.Batch == Loader.Batch {
  /// The command name shown in brackets (`[sft] …`).
  let label: String
  let settings: TrainingSettings
  let run: RunDirectory
  /// Whether to continue from the run's newest valid checkpoint.
  let resume: Bool
  /// The model; its `save(to:)` writes checkpoints and `RUN/model/`.
  let model: Model
  let objective: Objective
  let loader: Loader
  let evaluationBatches: [Loader.Batch]
  /// What one element of a batch is (`sequences`, `pairs`).
  var unit = "sequences"
  /// The ranks training together (one process unless started by `mpirun`).
  var communicator: any Communicator = SingleProcessCommunicator()

  /// Trains; prints `summary` (one line describing the model, data and batch) first.
  /// - Returns: the summary, or `nil` when a signal stopped the run before its last step (a
  ///   checkpoint was written; `RUN/model/` was not).
  @discardableResult
  func train(summary: String) throws -> TrainingSummary? {
    try TrainingProcesses.requireDataParallel(communicator, label: label)
    let stop = SignalStop(label: label, quiet: !communicator.isPrimary)
    let display = TrainingDisplay(label: label, totalSteps: settings.training.totalSteps)
    let fault = TestFault.fromEnvironment(rank: communicator.rank)
    let trainer = Trainer(
      model: model, objective: objective, optimizer: settings.optimizer,
      schedule: settings.schedule, loader: loader, evaluationBatches: evaluationBatches,
      configuration: settings.training, run: run, communicator: communicator,
      stopFlag: stop.flag
    ) { [isPrimary = communicator.isPrimary] event in
      fault?.check(event, stopFlag: stop.flag)
      if isPrimary { display.show(event) }
    }
    let ranks = communicator.worldSize
    if communicator.isPrimary {
      printError(
        "[\(label)] \(summary), \(settings.training.totalSteps) steps of \(settings.batchSize) "
          + "\(unit) (\(ranks > 1 ? "\(ranks) processes × " : "")"
          + "\(settings.training.accumulationSteps) × \(settings.microBatchSize)), "
          + "\(ranks > 1 ? "\(ranks) processes of " : "")"
          + "\(threadCount()) thread\(threadCount() == 1 ? "" : "s")")
    }
    if resume {
      try communicator.agree {
        do {
          try trainer.resume()
        } catch {
          throw CommandLineError("--resume: \(error)")
        }
      }
    }
    let result = try trainer.run()
    try communicator.expectSameWeights(model.arena)
    guard communicator.isPrimary else { return result.stoppedEarly ? nil : result }
    display.finish()
    if ranks > 1 {
      printError("[\(label)] the \(ranks) processes hold identical weights")
    }
    if result.stoppedEarly {
      printError("[\(label)] stopped at step \(result.progress.step); continue with --resume")
      return nil
    }
    try model.save(to: run.modelPath)
    var figures: [String: Any] = [
      "steps": result.progress.step, "tokens": result.progress.tokensSeen,
      "skipped_steps": result.progress.skippedSteps, "model": run.modelPath,
      "seconds": (result.progress.elapsedSeconds * 100).rounded() / 100,
    ]
    if let loss = result.finalLoss, loss.isFinite { figures["final_loss"] = Double(loss) }
    if let evaluation = result.finalEvaluation {
      figures["eval_loss"] = evaluation.loss
      if evaluation.metrics.isEmpty {
        figures["eval_perplexity"] = evaluation.perplexity
      }
      for (name, value) in evaluation.metrics { figures["eval_" + name] = value }
    }
    printError("[\(label)] model written to \(run.modelPath)")
    let json = try JSONSerialization.data(withJSONObject: figures, options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
    return result
  }
}

/// Turns SIGINT and SIGTERM into a stop request honoured at the next step boundary; a second
/// signal ends the process at once. A `quiet` one (an `mpirun` rank other than 0) prints nothing.
final class SignalStop: Sendable {
  let flag = StopFlag()
  private let sources: [UncheckedSendable<DispatchSourceSignal>]

  init(label: String, quiet: Bool = false) {
    var sources: [UncheckedSendable<DispatchSourceSignal>] = []
    for number in [SIGINT, SIGTERM] {
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      let flag = flag
      source.setEventHandler {
        if flag.isRequested {
          if !quiet { printError("\n[\(label)] second signal: quitting without a checkpoint") }
          _exit(130)
        }
        flag.request()
        if quiet { return }
        printError(
          "\n[\(label)] signal \(number): saving a checkpoint after this step (signal again to quit now)"
        )
      }
      source.resume()
      sources.append(UncheckedSendable(source))
    }
    self.sources = sources
  }
}

/// Faults for the resume tests, from the `MINILLM_TEST_FAULT` environment variable (read by
/// the executable only): `kill-during-save:N` sends this process SIGKILL after the model files of
/// checkpoint N are written, `kill-after-step:N` right after step N; `term-after-step:N` sends
/// it SIGTERM (a stop request) right after step N and waits until `stopFlag` shows it. A third field `:R` limits the fault to the
/// process of rank R (under `mpirun`).
struct TestFault {
  enum Kind { case duringSave, afterStep, terminateAfterStep }
  let kind: Kind
  let step: Int

  static func fromEnvironment(rank: Int = 0) -> TestFault? {
    guard let value = ProcessInfo.processInfo.environment["MINILLM_TEST_FAULT"] else { return nil }
    let parts = value.split(separator: ":")
    guard parts.count == 2 || parts.count == 3, let step = Int(parts[1]) else { return nil }
    if parts.count == 3 && Int(parts[2]) != rank { return nil }
    switch parts[0] {
    case "kill-during-save": return TestFault(kind: .duringSave, step: step)
    case "kill-after-step": return TestFault(kind: .afterStep, step: step)
    case "term-after-step": return TestFault(kind: .terminateAfterStep, step: step)
    default: return nil
    }
  }

  func check(_ event: TrainingEvent, stopFlag: StopFlag? = nil) {
    switch (kind, event) {
    case (.duringSave, .checkpointFileWritten(let step, let file))
    where step == self.step
      && file == "model":
      kill(getpid(), SIGKILL)
    case (.afterStep, .stepFinished(let report)) where report.step == step:
      kill(getpid(), SIGKILL)
    case (.terminateAfterStep, .stepFinished(let report)) where report.step == step:
      kill(getpid(), SIGTERM)
      // The handler runs on another thread: wait for it, so the stop request is seen by the
      // next step however fast steps are.
      for _ in 0..<5000 where stopFlag?.isRequested != true { usleep(1000) }
    default: break
    }
  }
}
