/// Why `SFTPipeline`, `PreferencePipeline`, `SFTDataset` or `PreferenceDataset` stopped.
public enum ChatDataError: Error, CustomStringConvertible {
  /// An input holds records of another kind than the pipeline turns into samples.
  case wrongKind(path: String, format: CorpusFormat, expected: String)
  /// Too many malformed records.
  case tooManyBadRecords(
    rejected: Int, records: Int, limit: Double, firstRejections: [SourceRejection])
  /// The output folder already holds shards.
  case outputExists(path: String)
  /// A file cannot be read.
  case unreadable(path: String, message: String)
  /// `index.json` is malformed or of another kind of folder.
  case badIndex(path: String, message: String)
  /// A shard record is malformed; `line` is 1-based.
  case badRecord(path: String, line: Int, message: String)

  public var description: String {
    switch self {
    case .wrongKind(let path, let format, let expected):
      let command =
        switch format.kind {
        case .document: "pretrain"
        case .conversation: "sft"
        case .preference: "dpo"
        }
      return
        "\(path): format \(format.rawValue) holds \(format.kind.rawValue)s, not \(expected) "
        + "(pass --format, or use minillm data \(command))"
    case .tooManyBadRecords(let rejected, let records, let limit, _):
      return
        "\(rejected) of \(records) records are malformed, more than --max-bad-fraction \(limit)"
    case .outputExists(let path):
      return "\(path) already holds shards (pass --overwrite to replace them)"
    case .unreadable(let path, let message):
      return "\(path): \(message)"
    case .badIndex(let path, let message):
      return "\(path): bad index: \(message)"
    case .badRecord(let path, let line, let message):
      return "\(path):\(line): \(message)"
    }
  }
}
