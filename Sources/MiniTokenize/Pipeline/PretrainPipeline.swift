import Foundation
import MiniSupport

/// Settings of `PretrainPipeline.run`.
public struct PretrainOptions: Sendable {
  /// Documents with fewer tokens than this, EOS included, are dropped and counted
  /// (baby-llama2-chinese keeps only documents of more than 5 tokens).
  public var minimumDocumentTokens = 6
  /// A shard is closed once it holds at least this many tokens.
  public var shardTokenLimit = 100_000_000
  /// The run fails when more than this fraction of all records is malformed.
  public var maximumBadFraction = 0.01
  /// Text bytes per tokenising task.
  public var batchBytes = 1 << 18
  /// Tokenising tasks in flight at once (bounds memory; results are written in input order).
  public var tasksInFlight = 4
  /// The format of every input; `nil` detects each file's format.
  public var format: CorpusFormat?
  /// The member holding the text of `jsonl`/`json` records and Parquet rows (`nil`: `text`);
  /// see ``CorpusReader/init(path:format:placeholders:textColumn:)``.
  public var textColumn: String?
  /// Replace an existing shard folder's `index.json` and shards.
  public var overwrite = false

  /// Default settings.
  public init() {}
}

/// A snapshot of a running `PretrainPipeline`, for progress lines.
public struct PretrainProgress: Sendable {
  /// Documents tokenised (kept or too short).
  public var documents = 0
  /// UTF-8 bytes of document text tokenised.
  public var textBytes = 0
  /// Tokens written, EOS included.
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

/// Why `PretrainPipeline.run` stopped.
public enum PretrainError: Error, CustomStringConvertible {
  /// An input holds conversations or preference pairs, not documents.
  case notDocuments(path: String, format: CorpusFormat)
  /// Too many malformed records.
  case tooManyBadRecords(
    rejected: Int, records: Int, limit: Double, firstRejections: [SourceRejection])
  /// The output folder already holds shards.
  case outputExists(path: String)
  /// The tokenizer has no EOS id.
  case noEOS

  public var description: String {
    switch self {
    case .notDocuments(let path, let format):
      "\(path): format \(format.rawValue) holds \(format.kind.rawValue)s, not documents (use --format or minillm data sft|dpo)"
    case .tooManyBadRecords(let rejected, let records, let limit, _):
      "\(rejected) of \(records) records are malformed, more than --max-bad-fraction \(limit)"
    case .outputExists(let path):
      "\(path) already holds token shards (pass --overwrite to replace them)"
    case .noEOS: "the tokenizer has no EOS id"
    }
  }
}

/// A rejected record and the file it came from.
public struct SourceRejection: Sendable, Equatable {
  /// The file.
  public var path: String
  /// The record's line, reason and detail.
  public var record: RejectedRecord
}

/// Tokenises pretraining corpora into token shards (see Docs/Formats.md) on every core.
///
/// The calling task reads records (any format and compression) and groups them into batches;
/// child tasks tokenise batches in parallel; results are written strictly in input order, so
/// the shards are byte-identical from run to run. Memory is bounded by
/// `tasksInFlight × batchBytes` plus one record, whatever the corpus size.
public enum PretrainPipeline {
  /// Tokenises `inputs` into `output`, copying the tokenizer file beside the shards.
  /// - Parameters:
  ///   - tokenizerFile: the tokenizer's file name and bytes (e.g. `tokenizer.model`), copied into
  ///     `output` and hashed into the index.
  ///   - progress: called on the reading task after each written batch.
  /// - Returns: the index written to `output/index.json`.
  /// - Throws: `PretrainError`, `InputError`, or file errors; no partial shard is left behind.
  public static func run(
    inputs: [String], tokenizer: some Tokenizer, tokenizerFile: (name: String, bytes: [UInt8]),
    output: String, options: PretrainOptions = PretrainOptions(),
    progress: (PretrainProgress) -> Void = { _ in }
  ) async throws -> TokenShardIndex {
    guard let eos = tokenizer.specialIDs.eos else { throw PretrainError.noEOS }
    let indexPath = (output as NSString).appendingPathComponent("index.json")
    if FileManager.default.fileExists(atPath: indexPath) && !options.overwrite {
      throw PretrainError.outputExists(path: output)
    }
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    var readers: [CorpusReader] = []
    for path in inputs {
      let reader = try CorpusReader(
        path: path, format: options.format, textColumn: options.textColumn)
      guard reader.format.kind == .document else {
        throw PretrainError.notDocuments(path: path, format: reader.format)
      }
      readers.append(reader)
    }
    let writer = TokenShardWriter(
      directory: output, vocabularySize: tokenizer.vocabularySize, eosID: eos,
      shardTokenLimit: options.shardTokenLimit)
    var state = RunState(
      sources: readers.map { SourceCounts(statistics: $0.statistics) }, writer: writer,
      started: DispatchTime.now().uptimeNanoseconds)
    state.progress.inputBytesTotal = readers.reduce(0) { $0 + $1.progress.total }
    do {
      try await tokenize(
        readers, tokenizer: tokenizer, eos: Int32(eos), options: options, state: &state,
        progress: progress)
    } catch {
      writer.discard()
      throw error
    }
    let records = state.sources.reduce(0) { $0 + $1.statistics.records }
    let rejected = state.sources.reduce(0) { $0 + $1.statistics.rejectedCount }
    if records > 0 && Double(rejected) > options.maximumBadFraction * Double(records) {
      writer.discard()
      throw PretrainError.tooManyBadRecords(
        rejected: rejected, records: records, limit: options.maximumBadFraction,
        firstRejections: state.sources.flatMap { source in
          source.statistics.firstRejections.map {
            SourceRejection(path: source.statistics.path, record: $0)
          }
        })
    }
    return try finish(
      state: state, writer: writer, tokenizer: tokenizer, tokenizerFile: tokenizerFile,
      output: output, options: options)
  }

  /// Reads, batches, tokenises in child tasks and writes in order.
  private static func tokenize(
    _ readers: [CorpusReader], tokenizer: some Tokenizer, eos: Int32, options: PretrainOptions,
    state: inout RunState, progress: (PretrainProgress) -> Void
  ) async throws {
    let minimum = options.minimumDocumentTokens
    try await withThrowingTaskGroup(of: TokenizedBatch.self) { group in
      var nextSequence = 0
      var inFlight = 0
      var pending: [Int: TokenizedBatch] = [:]
      var nextToWrite = 0
      var readBefore = 0

      func write(_ batch: TokenizedBatch) throws {
        pending[batch.sequence] = batch
        while let ready = pending.removeValue(forKey: nextToWrite) {
          try state.write(ready)
          nextToWrite += 1
        }
      }

      for (sourceIndex, reader) in readers.enumerated() {
        state.progress.currentFile = reader.path
        state.progress.inputBytesRead = readBefore
        state.progress.elapsed = state.elapsedSeconds
        progress(state.progress)
        var batch = Batch(sequence: nextSequence, source: sourceIndex)
        while true {
          let record = try reader.next()
          if case .document(let document)? = record {
            batch.add(document.text)
          }
          if batch.bytes >= options.batchBytes || (record == nil && !batch.texts.isEmpty) {
            if inFlight >= options.tasksInFlight, let done = try await group.next() {
              inFlight -= 1
              try write(done)
              state.progress.inputBytesRead = readBefore + reader.progress.read
              state.progress.elapsed = state.elapsedSeconds
              progress(state.progress)
            }
            let full = batch
            group.addTask {
              try full.tokenized(with: tokenizer, eos: eos, minimumTokens: minimum)
            }
            inFlight += 1
            nextSequence += 1
            batch = Batch(sequence: nextSequence, source: sourceIndex)
          }
          if record == nil { break }
        }
        state.sources[sourceIndex].statistics = reader.statistics
        readBefore += reader.progress.total
      }
      while let done = try await group.next() {
        try write(done)
        state.progress.inputBytesRead = readBefore
        state.progress.elapsed = state.elapsedSeconds
        progress(state.progress)
      }
    }
  }

  private static func finish(
    state: RunState, writer: TokenShardWriter, tokenizer: some Tokenizer,
    tokenizerFile: (name: String, bytes: [UInt8]), output: String, options: PretrainOptions
  ) throws -> TokenShardIndex {
    let indexPath = (output as NSString).appendingPathComponent("index.json")
    // A crash from here on leaves no index rather than an index naming the wrong shards.
    if FileManager.default.fileExists(atPath: indexPath) {
      try FileManager.default.removeItem(atPath: indexPath)
    }
    let shards = try writer.commit()
    try writeFileAtomically(
      tokenizerFile.bytes, to: (output as NSString).appendingPathComponent(tokenizerFile.name))
    let index = TokenShardIndex(
      tokenizer: .init(
        file: tokenizerFile.name, sha256: SHA256.hex(of: tokenizerFile.bytes),
        vocabularySize: tokenizer.vocabularySize, eosId: tokenizer.specialIDs.eos),
      tokenWidth: writer.tokenWidth, minimumDocumentTokens: options.minimumDocumentTokens,
      shards: shards, totalTokens: shards.reduce(0) { $0 + $1.tokens },
      totalDocuments: shards.reduce(0) { $0 + $1.documents },
      sources: state.sources.map { $0.entry })
    try writeFileAtomically(try index.encoded(), to: indexPath)
    // Shards of an earlier, longer run that this index no longer lists.
    let kept = Set(shards.map(\.file))
    for name in (try? FileManager.default.contentsOfDirectory(atPath: output)) ?? []
    where name.hasPrefix("shard-") && name.hasSuffix(".bin") && !kept.contains(name) {
      try FileManager.default.removeItem(atPath: (output as NSString).appendingPathComponent(name))
    }
    return index
  }
}

/// Documents read from one source, waiting to be tokenised.
private struct Batch: Sendable {
  let sequence: Int
  let source: Int
  var texts: [String] = []
  var bytes = 0

  init(sequence: Int, source: Int) {
    self.sequence = sequence
    self.source = source
  }

  mutating func add(_ text: String) {
    texts.append(text)
    bytes += text.utf8.count
  }

  func tokenized(with tokenizer: some Tokenizer, eos: Int32, minimumTokens: Int) throws
    -> TokenizedBatch
  {
    var result = TokenizedBatch(sequence: sequence, source: source, textBytes: bytes)
    result.tokens.reserveCapacity(bytes / 2)
    for text in texts {
      let start = result.tokens.count
      try tokenizer.encode(text, appendingTo: &result.tokens)
      result.tokens.append(eos)
      let length = result.tokens.count - start
      if length < minimumTokens {
        result.tokens.removeLast(length)
        result.tooShort += 1
      } else {
        result.lengths.append(length)
      }
    }
    return result
  }
}

/// A batch's documents as tokens (EOS appended), with their lengths.
private struct TokenizedBatch: Sendable {
  let sequence: Int
  let source: Int
  let textBytes: Int
  var tokens: [Int32] = []
  var lengths: [Int] = []
  var tooShort = 0
}

/// One source's counts while the run goes on.
private struct SourceCounts {
  var statistics: SourceStatistics
  var tooShort = 0
  var documents = 0
  var tokens = 0

  var entry: TokenShardIndex.SourceEntry {
    .init(
      path: statistics.path, format: statistics.format, records: statistics.records,
      rejected: statistics.rejected, firstRejections: statistics.firstRejections,
      tooShort: tooShort, documents: documents, tokens: tokens)
  }
}

/// What the writing side of the pipeline owns.
private struct RunState {
  var sources: [SourceCounts]
  let writer: TokenShardWriter
  let started: UInt64
  var progress = PretrainProgress()

  var elapsedSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9 }

  mutating func write(_ batch: TokenizedBatch) throws {
    try batch.tokens.withUnsafeBufferPointer { tokens in
      var offset = 0
      for length in batch.lengths {
        try writer.append(document: UnsafeBufferPointer(rebasing: tokens[offset..<offset + length]))
        offset += length
      }
    }
    sources[batch.source].tooShort += batch.tooShort
    sources[batch.source].documents += batch.lengths.count
    sources[batch.source].tokens += batch.tokens.count
    progress.documents += batch.lengths.count + batch.tooShort
    progress.textBytes += batch.textBytes
    progress.tokens += batch.tokens.count
  }
}
