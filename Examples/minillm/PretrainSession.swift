import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain

/// A Llama whose saved model directory also carries the data's tokenizer, so checkpoints and
/// the final model work with `generate --prompt`.
final class PretrainModel: TrainableModel {
  let llama: Llama
  let tokenizerPath: String?

  init(llama: Llama, tokenizerPath: String?) {
    self.llama = llama
    self.tokenizerPath = tokenizerPath
  }

  var arena: ParameterArena { llama.arena }

  func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    try llama.visitParameters(visitor)
  }

  func save(to directory: String) throws {
    try llama.save(to: directory)
    if let tokenizerPath {
      let file = try MappedFile(path: tokenizerPath)
      try writeFileAtomically(to: directory + "/tokenizer.model") { sink in
        try file.withUnsafeBytes { try sink.write($0) }
      }
    }
  }
}

/// One `minillm pretrain` session: builds the model, data and trainer from the settings, runs
/// it with signal handling and progress output, and writes the final model.
struct PretrainSession {
  let settings: PretrainSettings
  let run: RunDirectory
  let dataset: TokenDataset
  let tokenizerPath: String?
  let resume: Bool

  func train() throws {
    let llama = Llama(config: settings.model, seed: settings.seed)
    let model = PretrainModel(llama: llama, tokenizerPath: tokenizerPath)
    let (training, heldOut) = TokenWindows(
      dataset: dataset, sequenceLength: settings.sequenceLength
    ).split(heldOutFraction: settings.evalFraction)
    let loader = TokenWindowLoader(
      windows: training, batchSize: settings.microBatchSize, shuffle: true, seed: settings.seed)
    let evaluation = try heldOut.sequentialBatches(
      batchSize: settings.microBatchSize, limit: settings.evalBatches)
    let stop = SignalStop()
    let display = TrainingDisplay(totalSteps: settings.training.totalSteps)
    let fault = TestFault.fromEnvironment()
    let trainer = Trainer(
      model: model, objective: CausalLanguageModelObjective(model: llama),
      optimizer: settings.optimizer, schedule: settings.schedule, loader: loader,
      evaluationBatches: evaluation, configuration: settings.training, run: run,
      stopFlag: stop.flag
    ) { event in
      fault?.check(event)
      display.show(event)
    }
    printError(
      "[pretrain] \(llama.parameterCount) parameters, \(training.count) training windows of "
        + "\(settings.sequenceLength) tokens (\(heldOut.count) held out), "
        + "\(settings.training.totalSteps) steps of \(settings.batchSize) sequences "
        + "(\(settings.training.accumulationSteps) × \(settings.microBatchSize)), "
        + "\(threadCount()) thread\(threadCount() == 1 ? "" : "s")")
    if resume {
      do {
        try trainer.resume()
      } catch {
        throw CommandLineError("--resume: \(error)")
      }
    }
    let summary = try trainer.run()
    display.finish()
    if summary.stoppedEarly {
      printError(
        "[pretrain] stopped at step \(summary.progress.step); continue with --resume")
      return
    }
    try model.save(to: run.modelPath)
    var result: [String: Any] = [
      "steps": summary.progress.step, "tokens": summary.progress.tokensSeen,
      "skipped_steps": summary.progress.skippedSteps, "model": run.modelPath,
      "seconds": (summary.progress.elapsedSeconds * 100).rounded() / 100,
    ]
    if let loss = summary.finalLoss, loss.isFinite { result["final_loss"] = Double(loss) }
    if let evaluation = summary.finalEvaluation {
      result["eval_loss"] = evaluation.loss
      result["eval_perplexity"] = evaluation.perplexity
    }
    printError("[pretrain] model written to \(run.modelPath)")
    let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
  }
}

/// Turns SIGINT and SIGTERM into a stop request honoured at the next step boundary; a second
/// signal ends the process at once.
final class SignalStop: Sendable {
  let flag = StopFlag()
  private let sources: [UncheckedSendable<DispatchSourceSignal>]

  init() {
    var sources: [UncheckedSendable<DispatchSourceSignal>] = []
    for number in [SIGINT, SIGTERM] {
      signal(number, SIG_IGN)
      let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
      let flag = flag
      source.setEventHandler {
        if flag.isRequested {
          printError("\n[pretrain] second signal: quitting without a checkpoint")
          _exit(130)
        }
        flag.request()
        printError(
          "\n[pretrain] signal \(number): saving a checkpoint after this step (signal again to quit now)"
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
/// checkpoint N are written, `kill-after-step:N` right after step N.
struct TestFault {
  enum Kind { case duringSave, afterStep }
  let kind: Kind
  let step: Int

  static func fromEnvironment() -> TestFault? {
    guard let value = ProcessInfo.processInfo.environment["MINILLM_TEST_FAULT"] else { return nil }
    let parts = value.split(separator: ":")
    guard parts.count == 2, let step = Int(parts[1]) else { return nil }
    switch parts[0] {
    case "kill-during-save": return TestFault(kind: .duringSave, step: step)
    case "kill-after-step": return TestFault(kind: .afterStep, step: step)
    default: return nil
    }
  }

  func check(_ event: TrainingEvent) {
    switch (kind, event) {
    case (.duringSave, .checkpointFileWritten(let step, let file))
    where step == self.step
      && file == "model":
      kill(getpid(), SIGKILL)
    case (.afterStep, .stepFinished(let report)) where report.step == step:
      kill(getpid(), SIGKILL)
    default: break
    }
  }
}
