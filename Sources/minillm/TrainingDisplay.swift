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
  private let start = DispatchTime.now().uptimeNanoseconds

  init(label: String, totalSteps: Int) {
    self.label = label
    self.totalSteps = totalSteps
  }

  private var now: Double { Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 }

  func show(_ event: TrainingEvent) {
    if let text = event.line(label: label) { line(text) }
    switch event {
    case .stepFinished(let report): step(report)
    case .finished: finish()
    default: break
    }
  }

  private func step(_ report: StepReport) {
    secondsPerStep = secondsPerStep.map { 0.9 * $0 + 0.1 * report.seconds } ?? report.seconds
    let interval = isTerminal ? 0.2 : 10
    guard now - lastShown >= interval || report.step == 1 || report.step == totalSteps else {
      return
    }
    lastShown = now
    let text = report.progressLine(
      label: label, totalSteps: totalSteps, secondsPerStep: secondsPerStep ?? 0)
    if isTerminal {
      FileHandle.standardError.write(Data(("\r\u{1B}[K" + text).utf8))
      lineOpen = true
    } else {
      printError(text)
    }
  }

  private func line(_ text: String) {
    finish()
    printError(text)
  }

  func finish() {
    if lineOpen {
      FileHandle.standardError.write(Data("\n".utf8))
      lineOpen = false
    }
  }
}
