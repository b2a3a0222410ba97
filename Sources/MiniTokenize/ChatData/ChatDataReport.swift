import Foundation

/// The settings the SFT and preference pipelines share, so one set of flags can fill either.
public protocol ChatDataOptions {
  /// The input format (`nil`: detected per file).
  var format: CorpusFormat? { get set }
  /// Most tokens per sample.
  var maxLength: Int { get set }
  /// Values of the self-cognition placeholders (`name`, `author`, `date`).
  var placeholders: [String: String] { get set }
  /// Fail when more than this fraction of records is malformed.
  var maximumBadFraction: Double { get set }
  /// Samples per shard.
  var samplesPerShard: Int { get set }
  /// Replace the shards of an existing output folder.
  var overwrite: Bool { get set }
}

extension SFTOptions: ChatDataOptions {}
extension PreferenceOptions: ChatDataOptions {}

extension SourceRejection {
  /// `path:line: reason: detail`.
  public var line: String {
    "\(path):\(record.line): \(record.reason.rawValue): \(record.detail)"
  }
}

extension SourceStatistics {
  /// The source's rejected-record counts and its first rejections, one line each.
  public var rejectionLines: [String] {
    let counts = rejected.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }
    return [
      "\(path): skipped \(rejectedCount) of \(records) records (\(counts.joined(separator: ", ")))"
    ] + firstRejections.map { "  \(path):\($0.line): \($0.reason.rawValue): \($0.detail)" }
  }
}

extension ChatDataSource {
  /// The source's dropped samples (by reason), truncated histories and malformed records, one
  /// line each; `unit` names the samples (`samples`, `pairs`).
  public func reportLines(unit: String) -> [String] {
    var lines: [String] = []
    let droppedCount = dropped.values.reduce(0, +)
    if droppedCount > 0 {
      let counts = dropped.sorted { $0.key < $1.key }.map { "\($0.key.rawValue) \($0.value)" }
      lines.append("\(path): dropped \(droppedCount) \(unit) (\(counts.joined(separator: ", ")))")
    }
    if truncated > 0 { lines.append("\(path): truncated the history of \(truncated) \(unit)") }
    var statistics = SourceStatistics(path: path, format: format)
    statistics.records = records
    statistics.rejected = rejected
    statistics.firstRejections = firstRejections
    if statistics.rejectedCount > 0 { lines += statistics.rejectionLines }
    return lines
  }
}

extension ChatDataError {
  /// The first malformed records, one line each, when there were too many.
  public var rejectionLines: [String] {
    guard case .tooManyBadRecords(_, _, _, let rejections) = self else { return [] }
    return rejections.map(\.line)
  }
}

extension PretrainError {
  /// The first malformed records, one line each, when there were too many.
  public var rejectionLines: [String] {
    guard case .tooManyBadRecords(_, _, _, let rejections) = self else { return [] }
    return rejections.map(\.line)
  }
}

extension TokenShardIndex.SourceEntry {
  /// The source's documents dropped as shorter than `minimumDocumentTokens` and its malformed
  /// records (counts by reason, then the first ones), one line each.
  public func reportLines(minimumDocumentTokens: Int) -> [String] {
    var lines: [String] = []
    if tooShort > 0 {
      lines.append("\(path): dropped \(tooShort) documents under \(minimumDocumentTokens) tokens")
    }
    var statistics = SourceStatistics(path: path, format: format)
    statistics.records = records
    statistics.rejected = rejected
    statistics.firstRejections = firstRejections
    if statistics.rejectedCount > 0 { lines += statistics.rejectionLines }
    return lines
  }
}
