import ArgumentParser
import Foundation
import MiniTokenize

extension SFTOverflowPolicy: ExpressibleByArgument {}

/// Loads `--template chatml|human-robot|FILE.json` and binds it to the tokenizer.
func loadRenderer(template name: String, tokenizer: SentencePieceTokenizer) throws -> ChatRenderer {
  do {
    return try ChatRenderer(template: try ChatTemplate.named(name), tokenizer: tokenizer)
  } catch let error as ChatTemplateError {
    throw CommandLineError("--template: \(error)")
  }
}

/// Checks the flags `data sft` and `data dpo` share.
func validateChatDataFlags(input: [String], maxLength: Int, maxBadFraction: Double) throws {
  guard !input.isEmpty else { throw CommandLineError("--input: give at least one file") }
  for path in input where !FileManager.default.isReadableFile(atPath: path) {
    throw CommandLineError("--input: cannot read \(path)")
  }
  guard maxLength >= 2 else { throw CommandLineError("--max-length: \(maxLength) < 2") }
  guard maxBadFraction >= 0 && maxBadFraction <= 1 else {
    throw CommandLineError("--max-bad-fraction: \(maxBadFraction) is not in [0, 1]")
  }
}

/// Shows a chat-data pipeline's progress on stderr like `ProgressDisplay`: a line rewritten in
/// place on a terminal, a plain log line every few seconds otherwise.
final class ChatDataProgressDisplay {
  let label: String
  let isTerminal = isatty(STDERR_FILENO) != 0
  private var lastShown = -1.0
  private var last: ChatDataProgress?
  private var currentFile = ""

  init(label: String) { self.label = label }

  func update(_ progress: ChatDataProgress) {
    last = progress
    if progress.currentFile != currentFile {
      currentFile = progress.currentFile
      if !isTerminal { printError("[\(label)] reading \(currentFile)") }
    }
    guard progress.records > 0, progress.elapsed - lastShown >= (isTerminal ? 0.25 : 10) else {
      return
    }
    lastShown = progress.elapsed
    show(progress)
  }

  func finish() {
    guard let last, last.records > 0 else { return }
    show(last)
    if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
  }

  private func show(_ progress: ChatDataProgress) {
    let seconds = max(progress.elapsed, 1e-9)
    var line = String(
      format: "[%@] %d records  %d kept  %.0f records/s  %.2f MB/s  %.0f tokens/s", label,
      progress.records, progress.kept, Double(progress.records) / seconds,
      Double(progress.textBytes) / seconds / 1e6, Double(progress.tokens) / seconds)
    if progress.inputBytesTotal > 0 && progress.inputBytesRead > 0 {
      let fraction = min(1, Double(progress.inputBytesRead) / Double(progress.inputBytesTotal))
      let remaining = seconds * (1 - fraction) / max(fraction, 1e-9)
      line += String(
        format: "  %.0f%%  ETA %@", fraction * 100, ProgressDisplay.duration(remaining))
    }
    if isTerminal {
      FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    } else {
      printError(line)
    }
  }
}

/// Prints the first malformed records of a failed run.
func logFailure(_ error: any Error) {
  if case ChatDataError.tooManyBadRecords(_, _, _, let rejections) = error {
    for rejection in rejections {
      printError(
        "\(rejection.path):\(rejection.record.line): \(rejection.record.reason.rawValue): \(rejection.record.detail)"
      )
    }
  }
}

/// Logs each source's dropped samples and malformed records to stderr.
func logSources(_ sources: [ChatDataSource], unit: String) {
  for source in sources {
    let dropped = source.dropped.values.reduce(0, +)
    if dropped > 0 {
      let counts = source.dropped.sorted { $0.key < $1.key }.map {
        "\($0.key.rawValue) \($0.value)"
      }
      printError(
        "\(source.path): dropped \(dropped) \(unit) (\(counts.joined(separator: ", ")))")
    }
    if source.truncated > 0 {
      printError("\(source.path): truncated the history of \(source.truncated) \(unit)")
    }
    var statistics = SourceStatistics(path: source.path, format: source.format)
    statistics.records = source.records
    statistics.rejected = source.rejected
    statistics.firstRejections = source.firstRejections
    if statistics.rejectedCount > 0 { logRejections(statistics) }
  }
}
