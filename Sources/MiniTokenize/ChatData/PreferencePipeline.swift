import Foundation
import MiniSupport

/// Settings of `PreferencePipeline.run`.
public struct PreferenceOptions: Sendable {
  /// The prompt plus the longer reply never exceed this many tokens.
  public var maxLength = 512
  /// Self-cognition placeholder values (see `SFTOptions.placeholders`).
  public var placeholders: [String: String] = [:]
  /// The format of every input; `nil` detects each file's format.
  public var format: CorpusFormat?
  /// The run fails when more than this fraction of all records is malformed.
  public var maximumBadFraction = 0.01
  /// A shard is closed once it holds this many pairs.
  public var samplesPerShard = 50_000
  /// Text bytes per rendering task.
  public var batchBytes = 1 << 18
  /// Rendering tasks in flight at once (bounds memory; pairs are written in input order).
  public var tasksInFlight = 4
  /// Replace an existing folder's `index.json` and shards.
  public var overwrite = false

  /// Default settings.
  public init() {}
}

/// One preference pair as tokens: `promptIDs` ends with the assistant's prefix; each reply is
/// its text's tokens, the assistant's suffix and the end-of-turn token.
public struct PreferenceSample: Sendable, Equatable {
  /// The rendered conversation so far, ending with the assistant's prefix.
  public var promptIDs: [Int32]
  /// The preferred reply.
  public var chosenIDs: [Int32]
  /// The rejected reply.
  public var rejectedIDs: [Int32]

  /// Creates a sample.
  public init(promptIDs: [Int32], chosenIDs: [Int32], rejectedIDs: [Int32]) {
    self.promptIDs = promptIDs
    self.chosenIDs = chosenIDs
    self.rejectedIDs = rejectedIDs
  }
}

/// What became of one preference pair.
public enum PreferenceSampleOutcome: Sendable, Equatable {
  /// Written, with this many of its prompt's oldest exchanges dropped to fit.
  case kept(PreferenceSample, droppedExchanges: Int)
  /// Not written.
  case dropped(SampleDropReason)
}

/// Writes a rejected reply for a prompt, for building pairs from SFT data: the record's own
/// reply becomes `chosen` and the generated one `rejected` (as MINI_LLM does with the SFT
/// model's samples). Gets the prompt conversation and its rendered ids (ending with the
/// assistant's prefix); returns the reply's text. Runs on the pipeline's calling task, one
/// prompt at a time, in input order.
public typealias RejectedAnswerGenerator = (_ prompt: Conversation, _ promptIDs: [Int32]) throws
  -> String

/// Renders preference corpora (every preference format of `CorpusFormat`) into preference
/// shards: JSON lines `{"prompt_ids": [...], "chosen_ids": [...], "rejected_ids": [...]}` in
/// `shard-NNNNN.jsonl`, with `index.json`, a copy of the tokenizer and
/// `tokenizer_config.json` (see `Docs/Formats.md`).
public enum PreferencePipeline {
  /// The sample `pair` gives under `maxLength`: when the prompt and the longer reply exceed
  /// it, the prompt's oldest exchanges are dropped (the system prompt and the last user turn
  /// are always kept); when that is not enough the pair is dropped.
  /// - Throws: `TokenizerError` when encoding fails.
  public static func sample(from pair: PreferencePair, renderer: ChatRenderer, maxLength: Int)
    throws -> PreferenceSampleOutcome
  {
    precondition(maxLength > 0, "PreferencePipeline.sample: maxLength \(maxLength)")
    if pair.chosen == pair.rejected { return .dropped(.identicalReplies) }
    let prompt: RenderedChat
    do {
      prompt = try renderer.prompt(for: pair.prompt)
    } catch ChatTemplateError.unsupportedRole {
      return .dropped(.unsupportedRole)
    }
    let chosen = try renderer.renderReply(pair.chosen)
    let rejected = try renderer.renderReply(pair.rejected)
    let budget = maxLength - max(chosen.count, rejected.count)
    guard budget > 0, let (fitted, dropped) = prompt.keepingLatestExchanges(fitting: budget)
    else { return .dropped(.finalExchangeTooLong) }
    return .kept(
      PreferenceSample(promptIDs: fitted.ids, chosenIDs: chosen, rejectedIDs: rejected),
      droppedExchanges: dropped)
  }

  /// Renders `inputs` into `output`, copying the tokenizer file beside the shards.
  /// - Parameters:
  ///   - renderer: the chat template bound to the tokenizer.
  ///   - tokenizerFile: the tokenizer's file name and bytes, copied and hashed into the index.
  ///   - rejectedGenerator: when given, conversation (SFT) inputs are accepted too: each
  ///     record's last assistant reply is `chosen`, the conversation before it the prompt, and
  ///     the generator's reply `rejected`. Records are then processed on the calling task.
  ///   - progress: called on the calling task after each written batch.
  /// - Returns: the index written to `output/index.json`.
  /// - Throws: `ChatDataError`, `InputError`, `TokenizerError`, what the generator throws, or
  ///   file errors; no partial shard is left behind.
  public static func run(
    inputs: [String], renderer: ChatRenderer, tokenizerFile: (name: String, bytes: [UInt8]),
    output: String, options: PreferenceOptions = PreferenceOptions(),
    rejectedGenerator: RejectedAnswerGenerator? = nil,
    progress: (ChatDataProgress) -> Void = { _ in }
  ) async throws -> PreferenceShardIndex {
    precondition(options.maxLength > 0, "PreferencePipeline: maxLength \(options.maxLength)")
    var run = try ChatDataRun(
      inputs: inputs, format: options.format, placeholders: options.placeholders,
      accepted: rejectedGenerator == nil ? [.preference] : [.preference, .conversation],
      expected: rejectedGenerator == nil
        ? "preference pairs" : "preference pairs or conversations",
      output: output, overwrite: options.overwrite)
    let writer = JSONLShardWriter(directory: output, samplesPerShard: options.samplesPerShard)
    var totals = (prompt: 0, chosen: 0, rejected: 0, generated: 0)
    let maxLength = options.maxLength

    func consume(_ source: Int, _ result: BatchResult) throws {
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
      totals.prompt += result.promptTokens
      totals.chosen += result.chosenTokens
      totals.rejected += result.rejectedTokens
      totals.generated += result.generated
      run.progress.records += result.records
      run.progress.kept += result.lineEnds.count
      run.progress.tokens += result.lineTokens.reduce(0, +)
      run.progress.textBytes += result.textBytes
    }

    func report() {
      run.progress.elapsed = run.elapsedSeconds
      progress(run.progress)
    }

    do {
      if let rejectedGenerator {
        var readBefore = 0
        for (sourceIndex, reader) in run.readers.enumerated() {
          run.progress.currentFile = reader.path
          report()
          var batch = RecordBatch(sequence: 0, source: sourceIndex)
          while true {
            let record = try reader.next()
            if let record { batch.add(record) }
            if batch.records.count >= 16 || (record == nil && !batch.records.isEmpty) {
              try consume(
                sourceIndex,
                try render(
                  batch, renderer: renderer, maxLength: maxLength,
                  generator: rejectedGenerator))
              run.progress.inputBytesRead = readBefore + reader.progress.read
              report()
              batch = RecordBatch(sequence: 0, source: sourceIndex)
            }
            if record == nil { break }
          }
          run.finishSource(sourceIndex, reader.statistics)
          readBefore += reader.progress.total
        }
      } else {
        try await processInOrder(
          run.readers, batchBytes: options.batchBytes, tasksInFlight: options.tasksInFlight,
          transform: { try render($0, renderer: renderer, maxLength: maxLength, generator: nil) },
          consume: consume, sourceDone: { run.finishSource($0, $1) },
          position: {
            run.progress.currentFile = $0.file
            run.progress.inputBytesRead = $0.bytesRead
            report()
          })
      }
      try run.checkBadFraction(limit: options.maximumBadFraction)
    } catch {
      writer.discard()
      throw error
    }
    var index = PreferenceShardIndex(
      tokenizer: TokenShardIndex.TokenizerReference(
        file: tokenizerFile.name, sha256: SHA256.hex(of: tokenizerFile.bytes),
        vocabularySize: renderer.tokenizer.vocabularySize,
        eosId: renderer.tokenizer.specialIDs.eos),
      template: renderer.template, maxLength: options.maxLength, shards: [],
      kept: run.sources.reduce(0) { $0 + $1.kept },
      truncated: run.sources.reduce(0) { $0 + $1.truncated }, dropped: run.droppedTotals,
      rejected: run.rejectedTotals, promptTokens: totals.prompt, chosenTokens: totals.chosen,
      rejectedTokens: totals.rejected, generatedRejected: totals.generated, sources: run.sources)
    let shards = try run.finish(
      writer: writer, tokenizerFile: tokenizerFile,
      renderer: renderer, maxLength: options.maxLength
    ) { shards in
      var complete = index
      complete.shards = shards
      return try encodedIndex(complete)
    }
    index.shards = shards
    return index
  }

  /// One batch's pairs as JSON lines, with counts.
  private struct BatchResult: Sendable {
    var lines: [UInt8] = []
    var lineEnds: [Int] = []
    var lineTokens: [Int] = []
    var truncated = 0
    var dropped: [SampleDropReason: Int] = [:]
    var promptTokens = 0
    var chosenTokens = 0
    var rejectedTokens = 0
    var generated = 0
    var records = 0
    var textBytes = 0
  }

  private static func render(
    _ batch: RecordBatch, renderer: ChatRenderer, maxLength: Int,
    generator: RejectedAnswerGenerator?
  ) throws -> BatchResult {
    var result = BatchResult(textBytes: batch.bytes)
    var line = JSONLineBuilder()
    for record in batch.records {
      let pair: PreferencePair
      var generated = false
      switch record {
      case .preference(let preference): pair = preference
      case .conversation(let conversation):
        guard let generator, let reply = conversation.messages.last, reply.role == .assistant
        else { continue }
        let prompt = Conversation(
          system: conversation.system, messages: Array(conversation.messages.dropLast()))
        let promptIDs: [Int32]
        do {
          promptIDs = try renderer.renderPrompt(for: prompt)
        } catch ChatTemplateError.unsupportedRole {
          result.records += 1
          result.dropped[.unsupportedRole, default: 0] += 1
          continue
        } catch ChatTemplateError.promptDoesNotEndWithUser {
          result.records += 1
          result.dropped[.promptDoesNotEndWithUser, default: 0] += 1
          continue
        }
        pair = PreferencePair(
          prompt: prompt, chosen: reply.content, rejected: try generator(prompt, promptIDs))
        generated = true
      case .document: continue
      }
      result.records += 1
      switch try sample(from: pair, renderer: renderer, maxLength: maxLength) {
      case .dropped(let reason):
        result.dropped[reason, default: 0] += 1
      case .kept(let sample, let droppedExchanges):
        if droppedExchanges > 0 { result.truncated += 1 }
        if generated { result.generated += 1 }
        line.bytes.removeAll(keepingCapacity: true)
        line.open()
        line.member("prompt_ids", sample.promptIDs)
        line.member("chosen_ids", sample.chosenIDs)
        line.member("rejected_ids", sample.rejectedIDs)
        line.close()
        result.lines.append(contentsOf: line.bytes)
        result.lineEnds.append(result.lines.count)
        let tokens = sample.promptIDs.count + sample.chosenIDs.count + sample.rejectedIDs.count
        result.lineTokens.append(tokens)
        result.promptTokens += sample.promptIDs.count
        result.chosenTokens += sample.chosenIDs.count
        result.rejectedTokens += sample.rejectedIDs.count
      }
    }
    return result
  }
}
