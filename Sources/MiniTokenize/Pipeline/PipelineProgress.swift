import Foundation

/// A snapshot of a running data pipeline (``PretrainPipeline``, ``SFTPipeline``,
/// ``PreferencePipeline``), for progress lines.
public protocol PipelineProgressReport: Sendable {
  /// Seconds since the start.
  var elapsed: Double { get }
  /// The file being read.
  var currentFile: String { get }
  /// Input file bytes read so far (compressed size for `.zst`).
  var inputBytesRead: Int { get }
  /// Total input file bytes.
  var inputBytesTotal: Int { get }
  /// Whether any record was processed yet.
  var hasRecords: Bool { get }
  /// The counts and rates of the pipeline (`12 docs  3 docs/s …`).
  var figures: String { get }
}

extension PipelineProgressReport {
  /// One progress line: `[label] figures`, then the share of the input read and the time left
  /// when the input's size is known.
  public func line(label: String) -> String {
    var line = "[\(label)] " + figures
    if inputBytesTotal > 0 && inputBytesRead > 0 {
      let seconds = max(elapsed, 1e-9)
      let fraction = min(1, Double(inputBytesRead) / Double(inputBytesTotal))
      let remaining = seconds * (1 - fraction) / max(fraction, 1e-9)
      line += String(format: "  %.0f%%  ETA %@", fraction * 100, formattedDuration(remaining))
    }
    return line
  }
}

/// `seconds` as `42s`, `3m05s` or `2h07m`.
public func formattedDuration(_ seconds: Double) -> String {
  let total = Int(seconds.rounded())
  if total >= 3600 { return "\(total / 3600)h\(String(format: "%02d", total % 3600 / 60))m" }
  if total >= 60 { return "\(total / 60)m\(String(format: "%02d", total % 60))s" }
  return "\(total)s"
}

extension PretrainProgress: PipelineProgressReport {
  public var hasRecords: Bool { documents > 0 }

  public var figures: String {
    let seconds = max(elapsed, 1e-9)
    return String(
      format: "%d docs  %.0f docs/s  %.2f MB/s  %.0f tokens/s", documents,
      Double(documents) / seconds, Double(textBytes) / seconds / 1e6, Double(tokens) / seconds)
  }
}

extension ChatDataProgress: PipelineProgressReport {
  public var hasRecords: Bool { records > 0 }

  public var figures: String {
    let seconds = max(elapsed, 1e-9)
    return String(
      format: "%d records  %d kept  %.0f records/s  %.2f MB/s  %.0f tokens/s", records, kept,
      Double(records) / seconds, Double(textBytes) / seconds / 1e6, Double(tokens) / seconds)
  }
}
