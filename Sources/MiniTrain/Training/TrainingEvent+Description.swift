import Foundation
import MiniTokenize

extension TrainingEvent {
  /// The line a progress display shows for this event, `[label] …`, or `nil` for the events
  /// that have none of their own (steps, which a display shows at its own pace, checkpoint
  /// files, the end).
  public func line(label: String) -> String? {
    switch self {
    case .started(let step, let total):
      return "[\(label)] training from step \(step) to \(total)"
    case .resumed(let entry):
      return "[\(label)] resuming from \(entry.path)"
    case .resumedFromScratch:
      return "[\(label)] no valid checkpoint to resume from; starting from step 0"
    case .checkpointRejected(let entry, let reason):
      return "[\(label)] rejected checkpoint \(entry.path): \(reason)"
    case .stepFinished(let report) where report.skipped:
      return "[\(label)] step \(report.step): non-finite loss or gradient norm; update skipped"
    case .evaluated(let evaluation) where !evaluation.metrics.isEmpty:
      // An objective with figures of its own (reward model, DPO): those instead of perplexity.
      let figures = evaluation.metrics.keys.sorted().map {
        String(
          format: "%@ %.4f", $0.replacingOccurrences(of: "_", with: " "), evaluation.metrics[$0]!)
      }
      return String(
        format: "[\(label)] step %d  eval loss %.4f  ", evaluation.step, evaluation.loss)
        + figures.joined(separator: "  ")
    case .evaluated(let evaluation):
      return String(
        format: "[\(label)] step %d  eval loss %.4f  perplexity %.2f  (%d tokens)",
        evaluation.step, evaluation.loss, evaluation.perplexity, evaluation.tokens)
    case .checkpointSaved(let entry, let seconds):
      return String(format: "[\(label)] checkpoint %@ (%.2f s)", entry.path, seconds)
    case .checkpointSkipped(let step, let reason):
      return "[\(label)] step \(step): checkpoint skipped: \(reason)"
    case .rolledBack(let from, let entry):
      return "[\(label)] step \(from): too many non-finite steps; rolled back to \(entry.path)"
    case .stopping(let step):
      return "[\(label)] stopping at step \(step)"
    case .stepFinished, .checkpointFileWritten, .finished:
      return nil
    }
  }
}

extension StepReport {
  /// The progress line of this step: step/total, loss, learning rate, gradient norm, tokens/s
  /// and the time left at `secondsPerStep`.
  public func progressLine(label: String, totalSteps: Int, secondsPerStep: Double) -> String {
    String(
      format: "[\(label)] step %d/%d  loss %.4f  lr %.2e  grad %.3f  %.0f tok/s  ETA %@",
      step, totalSteps, loss, learningRate, gradientNorm, Double(tokens) / max(seconds, 1e-9),
      formattedDuration(Double(totalSteps - step) * secondsPerStep))
  }
}
