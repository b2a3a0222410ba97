import ArgumentParser
import Foundation
import MiniDistributed
import MiniTensor
import MiniTrain

/// Runs a training command's stage in a ``TrainingRun``, the same way for every stage: joins
/// the `mpirun` job when there is one, prepares the run on every rank, then trains with
/// SIGINT/SIGTERM handling, progress on stderr and the test faults, and prints the result line.
func runTraining<Stage: TrainingStage>(
  _ stage: Stage, label: String, runFlags: RunFlags, threads: ThreadOptions
) throws {
  let processes = try flagged("mpirun") {
    try DataParallelJob.join(environment: ProcessInfo.processInfo.environment)
  }
  let isPrimary = processes.communicator.isPrimary
  let run = TrainingRun(
    directory: runFlags.out, mode: runFlags.mode, label: label,
    communicator: processes.communicator, log: printError)
  do {
    try processes.communicator.agree {
      try threads.apply()
      if threads.threads == nil, let count = processes.threadsPerProcess { setThreadCount(count) }
    }
    let (session, settings) = try run.start(stage)
    let stop = SignalStop(label: label, quiet: !isPrimary)
    let display = TrainingDisplay(label: label, totalSteps: settings.training.totalSteps)
    let fault = TestFault.fromEnvironment(rank: processes.communicator.rank)
    run.stopFlag = stop.flag
    run.onEvent = { event in
      fault?.check(event, stopFlag: stop.flag)
      if isPrimary { display.show(event) }
    }
    try processes.abortingOnError(report: printError) {
      let result = try run.train(session, settings: settings)
      if let result, isPrimary { print(result.json) }
    }
  } catch TrainingRunError.otherProcessFailed {
    throw ExitCode.failure
  }
}

/// The run-folder flags of every training command: `--out`, `--resume`, `--overwrite`.
struct RunFlags: ParsableArguments {
  @Option(help: "Run folder (metrics, checkpoints, final model).")
  var out: String

  @Flag(help: "Continue RUN from its newest valid checkpoint (from the start when it has none).")
  var resume = false

  @Flag(help: "Delete what an earlier run wrote in RUN and start over.")
  var overwrite = false

  func validate() throws {
    if resume && overwrite { throw ValidationError("give at most one of --resume and --overwrite") }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory),
      !isDirectory.boolValue
    {
      throw ValidationError("--out: \(out) exists and is not a folder (give the run folder)")
    }
  }

  /// Fresh, resumed or overwritten.
  var mode: RunDirectory.Mode { resume ? .resume : overwrite ? .overwrite : .fresh }
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
/// it SIGTERM (a stop request) right after step N and waits until `stopFlag` shows it. A third
/// field `:R` limits the fault to the process of rank R (under `mpirun`).
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
    where step == self.step && file == "model":
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
