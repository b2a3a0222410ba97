import Foundation
import MiniTokenize

/// Shows `PretrainPipeline` progress on stderr: a line rewritten in place on a terminal, a plain
/// log line every few seconds otherwise.
final class ProgressDisplay {
  let label: String
  let isTerminal = isatty(STDERR_FILENO) != 0
  private var lastShown = -1.0
  private var lastProgress: PretrainProgress?
  private var currentFile = ""

  init(label: String) { self.label = label }

  func update(_ progress: PretrainProgress) {
    lastProgress = progress
    let interval = isTerminal ? 0.25 : 10
    if progress.currentFile != currentFile {
      currentFile = progress.currentFile
      if !isTerminal { printError("[\(label)] reading \(currentFile)") }
    }
    guard progress.documents > 0, progress.elapsed - lastShown >= interval else { return }
    lastShown = progress.elapsed
    show(progress)
  }

  func finish() {
    guard let lastProgress, lastProgress.documents > 0 else { return }
    show(lastProgress)
    if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
  }

  private func show(_ progress: PretrainProgress) {
    let seconds = max(progress.elapsed, 1e-9)
    var line = String(
      format: "[%@] %d docs  %.0f docs/s  %.2f MB/s  %.0f tokens/s", label, progress.documents,
      Double(progress.documents) / seconds, Double(progress.textBytes) / seconds / 1e6,
      Double(progress.tokens) / seconds)
    if progress.inputBytesTotal > 0 && progress.inputBytesRead > 0 {
      let fraction = min(1, Double(progress.inputBytesRead) / Double(progress.inputBytesTotal))
      let remaining = seconds * (1 - fraction) / max(fraction, 1e-9)
      line += String(format: "  %.0f%%  ETA %@", fraction * 100, Self.duration(remaining))
    }
    if isTerminal {
      FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    } else {
      printError(line)
    }
  }

  static func duration(_ seconds: Double) -> String {
    let total = Int(seconds.rounded())
    if total >= 3600 { return "\(total / 3600)h\(String(format: "%02d", total % 3600 / 60))m" }
    if total >= 60 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
    return "\(total)s"
  }
}
