import Foundation
import MiniTrain

/// Training progress on stderr: on a terminal one line rewritten in place (step/total, loss,
/// learning rate, tokens/s, ETA); otherwise a plain line every few seconds. Evaluations,
/// checkpoints, rejected checkpoints and rollbacks get lines of their own.
final class TrainingDisplay {
  /// The stage name shown in brackets (`[sft] …`).
  let label: String
  let totalSteps: Int
  let isTerminal = isatty(STDERR_FILENO) != 0
  private var lastShown = 0.0
  private var secondsPerStep: Double?
  private var lineOpen = false
  private var lastReport: StepReport?
  private let start = DispatchTime.now().uptimeNanoseconds

  init(label: String, totalSteps: Int) {
    self.label = label
    self.totalSteps = totalSteps
  }

  private var now: Double { Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }

  func show(_ event: TrainingEvent) {
    switch event {
    case .started(let step, let total):
      line("[\(label)] training from step \(step) to \(total)")
    case .resumed(let entry):
      line("[\(label)] resuming from \(entry.path)")
    case .resumedFromScratch:
      line("[\(label)] no valid checkpoint to resume from; starting from step 0")
    case .checkpointRejected(let entry, let reason):
      line("[\(label)] rejected checkpoint \(entry.path): \(reason)")
    case .stepFinished(let report):
      step(report)
    case .evaluated(let evaluation) where !evaluation.metrics.isEmpty:
      // An objective with figures of its own (reward model, DPO): those instead of perplexity.
      let figures = evaluation.metrics.keys.sorted().map {
        String(
          format: "%@ %.4f", $0.replacingOccurrences(of: "_", with: " "), evaluation.metrics[$0]!)
      }
      line(
        String(format: "[\(label)] step %d  eval loss %.4f  ", evaluation.step, evaluation.loss)
          + figures.joined(separator: "  "))
    case .evaluated(let evaluation):
      line(
        String(
          format: "[\(label)] step %d  eval loss %.4f  perplexity %.2f  (%d tokens)",
          evaluation.step, evaluation.loss, evaluation.perplexity, evaluation.tokens))
    case .checkpointFileWritten:
      break
    case .checkpointSaved(let entry, let seconds):
      line(String(format: "[\(label)] checkpoint %@ (%.2f s)", entry.path, seconds))
    case .checkpointSkipped(let step, let reason):
      line("[\(label)] step \(step): checkpoint skipped: \(reason)")
    case .rolledBack(let from, let entry):
      line("[\(label)] step \(from): too many non-finite steps; rolled back to \(entry.path)")
    case .stopping(let step):
      line("[\(label)] stopping at step \(step)")
    case .finished:
      break
    }
  }

  private func step(_ report: StepReport) {
    secondsPerStep = secondsPerStep.map { 0.9 * $0 + 0.1 * report.seconds } ?? report.seconds
    lastReport = report
    if report.skipped {
      line("[\(label)] step \(report.step): non-finite loss or gradient norm; update skipped")
    }
    let interval = isTerminal ? 0.2 : 10
    guard now - lastShown >= interval || report.step == 1 || report.step == totalSteps else {
      return
    }
    lastShown = now
    let remaining = Double(totalSteps - report.step) * (secondsPerStep ?? 0)
    let text = String(
      format: "[\(label)] step %d/%d  loss %.4f  lr %.2e  grad %.3f  %.0f tok/s  ETA %@",
      report.step, totalSteps, report.loss, report.learningRate, report.gradientNorm,
      Double(report.tokens) / max(report.seconds, 1e-9), ProgressDisplay.duration(remaining))
    if isTerminal {
      FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
      lineOpen = true
    } else {
      printError(text)
    }
  }

  private func line(_ text: String) {
    if lineOpen {
      FileHandle.standardError.write(Data("\n".utf8))
      lineOpen = false
    }
    printError(text)
  }

  func finish() {
    if lineOpen {
      FileHandle.standardError.write(Data("\n".utf8))
      lineOpen = false
    }
  }
}
