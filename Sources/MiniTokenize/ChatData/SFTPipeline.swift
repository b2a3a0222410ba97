import Foundation
import MiniSupport

/// What `minillm data sft` does with a conversation longer than `--max-length`.
public enum SFTOverflowPolicy: String, Sendable, Codable, CaseIterable {
  /// Drop it (counted as `too_long`).
  case drop
  /// Keep the system prompt and the latest exchanges that fit; drop it (counted as
  /// `final_exchange_too_long`) when even the last exchange does not fit.
  case truncateHistory = "truncate-history"
}

/// Settings of `SFTPipeline.run`.
public struct SFTOptions: Sendable {
  /// No sample is longer than this many tokens.
  public var maxLength = 512
  /// What to do with longer conversations.
  public var overflow = SFTOverflowPolicy.drop
  /// A system prompt for records without their own (placeholders are filled in it too).
  public var system: String?
  /// Self-cognition placeholder values, e.g. `["name": "MiniLLM", "author": "…"]` fills
  /// `{{name}}`, `<NAME>` and `[NAME]`.
  public var placeholders: [String: String] = [:]
  /// The format of every input; `nil` detects each file's format.
  public var format: CorpusFormat?
  /// The run fails when more than this fraction of all records is malformed.
  public var maximumBadFraction = 0.01
  /// A shard is closed once it holds this many samples.
  public var samplesPerShard = 50_000
  /// Text bytes per rendering task.
  public var batchBytes = 1 << 18
  /// Rendering tasks in flight at once (bounds memory; samples are written in input order).
  public var tasksInFlight = 4
  /// Replace an existing folder's `index.json` and shards.
  public var overwrite = false

  /// Default settings.
  public init() {}
}

/// What became of one conversation.
public enum SFTSampleOutcome: Sendable, Equatable {
  /// Written, with this many of its oldest exchanges dropped to fit.
  case kept(RenderedChat, droppedExchanges: Int)
  /// Not written.
  case dropped(SampleDropReason)
}

/// Renders SFT corpora (every conversation format of `CorpusFormat`) into SFT shards: JSON lines
/// `{"input_ids": [...], "loss_mask": [...]}` in `shard-NNNNN.jsonl`, with `index.json`, a
/// copy of the tokenizer and `tokenizer_config.json` (see `Docs/Formats.md`).
///
/// Rendering runs on every core; samples are written in input order, so the files are
/// byte-identical from run to run.
public enum SFTPipeline {
  /// The sample `conversation` gives under `maxLength` and `overflow`.
  /// - Throws: `TokenizerError` when encoding fails.
  public static func sample(
    from conversation: Conversation, renderer: ChatRenderer, maxLength: Int,
    overflow: SFTOverflowPolicy
  ) throws -> SFTSampleOutcome {
    precondition(maxLength > 0, "SFTPipeline.sample: maxLength \(maxLength)")
    let rendered: RenderedChat
    do {
      rendered = try renderer.render(conversation)
    } catch ChatTemplateError.unsupportedRole {
      return .dropped(.unsupportedRole)
    }
    if rendered.ids.count <= maxLength { return .kept(rendered, droppedExchanges: 0) }
    switch overflow {
    case .drop: return .dropped(.tooLong)
    case .truncateHistory:
      guard let (chat, dropped) = rendered.keepingLatestExchanges(fitting: maxLength) else {
        return .dropped(.finalExchangeTooLong)
      }
      return .kept(chat, droppedExchanges: dropped)
    }
  }

  /// Renders `inputs` into `output`, copying the tokenizer file beside the shards.
  /// - Parameters:
  ///   - renderer: the chat template bound to the tokenizer.
  ///   - tokenizerFile: the tokenizer's file name and bytes (e.g. `tokenizer.model`), copied
  ///     into `output` and hashed into the index.
  ///   - progress: called on the calling task after each written batch.
  /// - Returns: the index written to `output/index.json`.
  /// - Throws: `ChatDataError`, `InputError`, `TokenizerError` or file errors; no partial
  ///   shard is left behind.
  public static func run(
    inputs: [String], renderer: ChatRenderer, tokenizerFile: (name: String, bytes: [UInt8]),
    output: String, options: SFTOptions = SFTOptions(),
    progress: (ChatDataProgress) -> Void = { _ in }
  ) async throws -> SFTShardIndex {
    precondition(options.maxLength > 0, "SFTPipeline: maxLength \(options.maxLength)")
    var run = try ChatDataRun(
      inputs: inputs, format: options.format, placeholders: options.placeholders,
      accepted: [.conversation], expected: "conversations", output: output,
      overwrite: options.overwrite)
    let writer = JSONLShardWriter(directory: output, samplesPerShard: options.samplesPerShard)
    let system = options.system.map { fillingPlaceholders($0, options.placeholders) }
    let (maxLength, overflow) = (options.maxLength, options.overflow)
    var supervised = 0
    do {
      try await processInOrder(
        run.readers, batchBytes: options.batchBytes, tasksInFlight: options.tasksInFlight,
        transform: { batch in
          try render(
            batch, renderer: renderer, system: system, maxLength: maxLength,
            overflow: overflow)
        },
        consume: { source, result in
          try result.lines.withUnsafeBytes { bytes in
            var start = 0
            for (end, tokens) in zip(result.lineEnds, result.lineTokens) {
              try writer.append(
                line: UnsafeRawBufferPointer(rebasing: bytes[start..<end]), tokens: tokens)
              start = end
            }
          }
          run.sources[source].kept += result.lineEnds.count
          run.sources[source].truncated += result.truncated
          for (reason, count) in result.dropped {
            run.sources[source].dropped[reason, default: 0] += count
          }
          supervised += result.supervisedTokens
          run.progress.records += result.records
          run.progress.kept += result.lineEnds.count
          run.progress.tokens += result.lineTokens.reduce(0, +)
          run.progress.textBytes += result.textBytes
        },
        sourceDone: { run.finishSource($0, $1) },
        position: {
          run.progress.currentFile = $0.file
          run.progress.inputBytesRead = $0.bytesRead
          run.progress.elapsed = run.elapsedSeconds
          progress(run.progress)
        })
      try run.checkBadFraction(limit: options.maximumBadFraction)
    } catch {
      writer.discard()
      throw error
    }
    let tokenizer = renderer.tokenizer
    let reference = TokenShardIndex.TokenizerReference(
      file: tokenizerFile.name, sha256: SHA256.hex(of: tokenizerFile.bytes),
      vocabularySize: tokenizer.vocabularySize, eosId: tokenizer.specialIDs.eos)
    var index = SFTShardIndex(
      tokenizer: reference, template: renderer.template, maxLength: options.maxLength,
      overflow: options.overflow, system: system, placeholders: options.placeholders, shards: [],
      kept: run.sources.reduce(0) { $0 + $1.kept },
      truncated: run.sources.reduce(0) { $0 + $1.truncated }, dropped: run.droppedTotals,
      rejected: run.rejectedTotals, tokens: 0, supervisedTokens: supervised,
      sources: run.sources)
    let shards = try run.finish(
      writer: writer, tokenizerFile: tokenizerFile,
      renderer: renderer, maxLength: options.maxLength
    ) { shards in
      var complete = index
      complete.shards = shards
      complete.tokens = shards.reduce(0) { $0 + $1.tokens }
      return try encodedIndex(complete)
    }
    index.shards = shards
    index.tokens = shards.reduce(0) { $0 + $1.tokens }
    return index
  }

  /// One batch's samples as JSON lines, with counts.
  private struct BatchResult: Sendable {
    var lines: [UInt8] = []
    var lineEnds: [Int] = []
    var lineTokens: [Int] = []
    var truncated = 0
    var dropped: [SampleDropReason: Int] = [:]
    var supervisedTokens = 0
    var records = 0
    var textBytes = 0
  }

  private static func render(
    _ batch: RecordBatch, renderer: ChatRenderer, system: String?, maxLength: Int,
    overflow: SFTOverflowPolicy
  ) throws -> BatchResult {
    var result = BatchResult(textBytes: batch.bytes)
    var line = JSONLineBuilder()
    for record in batch.records {
      guard case .conversation(var conversation) = record else { continue }
      result.records += 1
      if conversation.system == nil { conversation.system = system }
      switch try sample(
        from: conversation, renderer: renderer, maxLength: maxLength, overflow: overflow)
      {
      case .dropped(let reason):
        result.dropped[reason, default: 0] += 1
      case .kept(let chat, let droppedExchanges):
        if droppedExchanges > 0 { result.truncated += 1 }
        line.bytes.removeAll(keepingCapacity: true)
        line.open()
        line.member("input_ids", chat.ids)
        line.member("loss_mask", chat.lossMask)
        line.close()
        result.lines.append(contentsOf: line.bytes)
        result.lineEnds.append(result.lines.count)
        result.lineTokens.append(chat.ids.count)
        result.supervisedTokens += chat.supervisedCount
      }
    }
    return result
  }
}
