import Foundation
import MiniTokenize

/// Shows a data pipeline's progress on stderr: a line rewritten in place on a terminal, a plain
/// log line every few seconds otherwise.
final class ProgressDisplay<Progress: PipelineProgressReport> {
  let label: String
  let isTerminal = isatty(STDERR_FILENO) != 0
  private var lastShown = -1.0
  private var last: Progress?
  private var currentFile = ""

  init(label: String) { self.label = label }

  func update(_ progress: Progress) {
    last = progress
    if progress.currentFile != currentFile {
      currentFile = progress.currentFile
      if !isTerminal { printError("[\(label)] reading \(currentFile)") }
    }
    guard progress.hasRecords, progress.elapsed - lastShown >= (isTerminal ? 0.25 : 10) else {
      return
    }
    lastShown = progress.elapsed
    show(progress)
  }

  func finish() {
    guard let last, last.hasRecords else { return }
    show(last)
    if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
  }

  private func show(_ progress: Progress) {
    let line = progress.line(label: label)
    if isTerminal {
      FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    } else {
      printError(line)
    }
  }
}
