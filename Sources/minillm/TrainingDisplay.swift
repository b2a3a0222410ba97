import Foundation
import MiniTrain

/// Training progress on stderr: a ``StatusLine`` of step/total, loss, learning rate, tokens/s
/// and ETA; evaluations, checkpoints, rejected checkpoints and rollbacks get lines of their own.
final class TrainingDisplay {
  /// The stage name shown in brackets (`[sft] …`).
  let label: String
  let totalSteps: Int
  private let status = StatusLine(terminalInterval: 0.2)
  private var secondsPerStep: Double?

  init(label: String, totalSteps: Int) {
    self.label = label
    self.totalSteps = totalSteps
  }

  func show(_ event: TrainingEvent) {
    if let text = event.line(label: label) {
      status.finish()
      printError(text)
    }
    switch event {
    case .stepFinished(let report):
      secondsPerStep = secondsPerStep.map { 0.9 * $0 + 0.1 * report.seconds } ?? report.seconds
      let edge = report.step == 1 || report.step == totalSteps
      guard status.isDue(at: status.elapsed, always: edge) else { return }
      status.show(
        report.progressLine(
          label: label, totalSteps: totalSteps, secondsPerStep: secondsPerStep ?? 0))
    case .finished: status.finish()
    default: break
    }
  }
}
