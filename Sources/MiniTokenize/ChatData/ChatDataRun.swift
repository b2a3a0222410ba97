import Foundation
import MiniSupport

/// A snapshot of a running `SFTPipeline` or `PreferencePipeline`, for progress lines.
public struct ChatDataProgress: Sendable {
  /// Records turned into samples or dropped so far.
  public var records = 0
  /// Samples written.
  public var kept = 0
  /// UTF-8 bytes of record text processed.
  public var textBytes = 0
  /// Tokens written.
  public var tokens = 0
  /// Input file bytes read so far (compressed size for `.zst`).
  public var inputBytesRead = 0
  /// Total input file bytes.
  public var inputBytesTotal = 0
  /// Seconds since the start.
  public var elapsed = 0.0
  /// The file being read.
  public var currentFile = ""
}

/// What the SFT and preference pipelines share: opening inputs, the output folder's guard, the
/// malformed-record limit, and the files written beside the shards.
struct ChatDataRun {
  let output: String
  let readers: [CorpusReader]
  let started = DispatchTime.now().uptimeNanoseconds
  var sources: [ChatDataSource]
  var progress = ChatDataProgress()

  /// Opens every input (all of a kind in `accepted`) and checks that `output` may be written.
  init(
    inputs: [String], format: CorpusFormat?, placeholders: [String: String],
    accepted: Set<RecordKind>, expected: String, output: String, overwrite: Bool
  ) throws {
    self.output = output
    let indexPath = (output as NSString).appendingPathComponent("index.json")
    if FileManager.default.fileExists(atPath: indexPath) && !overwrite {
      throw ChatDataError.outputExists(path: output)
    }
    var readers: [CorpusReader] = []
    for path in inputs {
      let reader = try CorpusReader(path: path, format: format, placeholders: placeholders)
      guard accepted.contains(reader.format.kind) else {
        throw ChatDataError.wrongKind(path: path, format: reader.format, expected: expected)
      }
      readers.append(reader)
    }
    self.readers = readers
    sources = readers.map { ChatDataSource(statistics: $0.statistics) }
    progress.inputBytesTotal = readers.reduce(0) { $0 + $1.progress.total }
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
  }

  var elapsedSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9 }

  /// Records the statistics of a file read to its end.
  mutating func finishSource(_ index: Int, _ statistics: SourceStatistics) {
    let counts = sources[index]
    sources[index] = ChatDataSource(statistics: statistics)
    sources[index].kept = counts.kept
    sources[index].truncated = counts.truncated
    sources[index].dropped = counts.dropped
  }

  /// Throws when more than `limit` of all records were malformed.
  func checkBadFraction(limit: Double) throws {
    let records = sources.reduce(0) { $0 + $1.records }
    let rejected = sources.reduce(0) { $0 + $1.rejected.values.reduce(0, +) }
    if records > 0 && Double(rejected) > limit * Double(records) {
      throw ChatDataError.tooManyBadRecords(
        rejected: rejected, records: records, limit: limit,
        firstRejections: sources.flatMap { source in
          source.firstRejections.map { SourceRejection(path: source.path, record: $0) }
        })
    }
  }

  /// Malformed records per reason over all sources.
  var rejectedTotals: [RejectReason: Int] {
    sources.reduce(into: [:]) { totals, source in
      for (reason, count) in source.rejected { totals[reason, default: 0] += count }
    }
  }

  /// Dropped records per reason over all sources.
  var droppedTotals: [SampleDropReason: Int] {
    sources.reduce(into: [:]) { totals, source in
      for (reason, count) in source.dropped { totals[reason, default: 0] += count }
    }
  }

  /// Renames the shards into place and writes the tokenizer files and (last) `index.json`;
  /// removes shards of an earlier run the new index does not list.
  ///
  /// The tokenizer files are those of every model directory MiniLLM writes (``TokenizerFiles``:
  /// `tokenizer.model`, `tokenizer.json` mirroring it and `tokenizer_config.json` with
  /// `renderer`'s template) when `tokenizerFile` is the renderer's sentencepiece model; else the
  /// file as given and `tokenizer_config.json` (listing the added tokens of a byte-level BPE
  /// `tokenizer.json`, as `StoredTokenizer.write(toDirectory:renderer:modelMaxLength:)` does).
  func finish(
    writer: JSONLShardWriter, tokenizerFile: (name: String, bytes: [UInt8]),
    renderer: ChatRenderer, maxLength: Int,
    index: (_ shards: [ChatShardEntry]) throws -> [UInt8]
  ) throws -> [ChatShardEntry] {
    let indexPath = (output as NSString).appendingPathComponent("index.json")
    // A crash from here on leaves no index rather than an index naming the wrong shards.
    if FileManager.default.fileExists(atPath: indexPath) {
      try FileManager.default.removeItem(atPath: indexPath)
    }
    let shards = try writer.commit()
    if tokenizerFile.name == "tokenizer.model",
      let sentencePiece = renderer.tokenizer as? SentencePieceTokenizer,
      sentencePiece.modelBytes == tokenizerFile.bytes
    {
      try TokenizerFiles(tokenizer: sentencePiece, renderer: renderer, modelMaxLength: maxLength)
        .write(toDirectory: output)
    } else {
      try writeFileAtomically(
        tokenizerFile.bytes, to: (output as NSString).appendingPathComponent(tokenizerFile.name))
      var config = TokenizerConfig(renderer: renderer, modelMaxLength: maxLength)
      if tokenizerFile.name == "tokenizer.json",
        let byteLevel = renderer.tokenizer as? ByteLevelBPETokenizer
      {
        config.addByteLevelTokens(of: byteLevel)
      }
      try config.write(toDirectory: output)
    }
    try writeFileAtomically(try index(shards), to: indexPath)
    let kept = Set(shards.map(\.file))
    for name in (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
    where name.hasPrefix("shard-") && name.hasSuffix(".jsonl") && !kept.contains(name) {
      try FileManager.default.removeItem(atPath: (output as NSString).appendingPathComponent(name))
    }
    return shards
  }
}

/// Fills self-cognition placeholders (`{{name}}`, `<NAME>`, `[NAME]` for key `name`) as
/// `CorpusReader` does for records.
func fillingPlaceholders(_ text: String, _ values: [String: String]) -> String {
  var text = text
  for (key, value) in values.sorted(by: { $0.key < $1.key }) {
    for pattern in ["{{\(key)}}", "<\(key.uppercased())>", "[\(key.uppercased())]"]
    where text.contains(pattern) {
      text = text.replacing(pattern, with: value)
    }
  }
  return text
}
