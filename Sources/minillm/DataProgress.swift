import Foundation
import MiniTokenize

/// Shows a data pipeline's progress on stderr as a ``StatusLine``; off a terminal, each file
/// read gets a line too.
final class ProgressDisplay<Progress: PipelineProgressReport> {
  let label: String
  private let status = StatusLine(terminalInterval: 0.25, firstShownAt: -1)
  private var last: Progress?
  private var currentFile = ""

  init(label: String) { self.label = label }

  func update(_ progress: Progress) {
    last = progress
    if progress.currentFile != currentFile {
      currentFile = progress.currentFile
      if !status.isTerminal { printError("[\(label)] reading \(currentFile)") }
    }
    guard progress.hasRecords, status.isDue(at: progress.elapsed) else { return }
    status.show(progress.line(label: label))
  }

  /// Runs `pipeline` with its progress shown, then prints `report`'s lines (what each source
  /// dropped); when it fails, prints the lines `failure` finds in the error (the rejections so
  /// far) and rethrows.
  static func run<Index>(
    label: String, failure: (any Error) -> [String]?, report: (Index) -> [String],
    _ pipeline: ((Progress) -> Void) async throws -> Index
  ) async throws -> Index {
    let display = ProgressDisplay(label: label)
    let index: Index
    do {
      index = try await pipeline { display.update($0) }
    } catch {
      display.finish()
      for line in failure(error) ?? [] { printError(line) }
      throw error
    }
    display.finish()
    for line in report(index) { printError(line) }
    return index
  }

  func finish() {
    guard let last, last.hasRecords else { return }
    status.show(last.line(label: label))
    status.finish()
  }
}
