import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize

/// The log-probability of a continuation after a context, as the harness's `loglikelihood`
/// request returns it.
public struct ContinuationScore: Sendable, Equatable, Codable {
  /// Sum of the natural-log probabilities of the continuation's tokens.
  public var logLikelihood: Double
  /// Whether every continuation token is the model's most likely token at its position.
  public var isGreedy: Bool
  /// Tokens scored.
  public var tokenCount: Int

  public init(logLikelihood: Double, isGreedy: Bool, tokenCount: Int) {
    self.logLikelihood = logLikelihood
    self.isGreedy = isGreedy
    self.tokenCount = tokenCount
  }
}

/// A model and its tokenizer, answering the harness's three request kinds the way its `HFLM`
/// answers them: texts encoded without special tokens, an empty context replaced by the prefix
/// token (BOS, else EOS), context and continuation split by encoding the context and the whole
/// string, inputs cut to the model's `max_position_embeddings`.
public final class EvalModel {
  public let model: Llama
  public let tokenizer: any Tokenizer
  /// The token standing for an empty context (BOS, else EOS).
  public let prefixTokenID: Int32
  /// Ids decoded as nothing in generated text (BOS, EOS, pad).
  public let specialTokenIDs: Set<Int32>
  /// The end-of-text id that always stops generation, if any.
  public let endOfTextID: Int32?
  /// The longest input (`max_position_embeddings`).
  public var maxLength: Int { model.config.maxPositions }
  /// Whether encoding a text puts BOS first (`add_bos_token`, the tokenizer's default that the
  /// harness keeps), unless the text already starts with the BOS piece.
  public var addsBOS = false
  /// Whether encoding a text puts EOS last (`add_eos_token`).
  public var addsEOS = false

  /// Wraps `model` and `tokenizer`.
  /// - Throws: `EvalError` when the tokenizer has neither BOS nor EOS (no prefix token) or its
  ///   vocabulary is larger than the model's.
  public init(model: Llama, tokenizer: any Tokenizer, origin: String = "tokenizer") throws {
    self.model = model
    self.tokenizer = tokenizer
    let specials = tokenizer.specialIDs
    guard let prefix = specials.bos ?? specials.eos else {
      throw EvalError(
        file: origin, "the tokenizer has no BOS or EOS token to stand for an empty context")
    }
    prefixTokenID = Int32(prefix)
    endOfTextID = specials.eos.map(Int32.init)
    specialTokenIDs = Set(
      [specials.bos, specials.eos, specials.pad].compactMap { $0 }.map(Int32.init))
  }

  /// Loads a model directory: the weights, and its tokenizer as `AutoTokenizer` finds it.
  /// - Throws: errors naming the file at fault.
  public convenience init(directory: String) throws {
    try self.init(model: Llama(directory: directory), directory: directory)
  }

  /// `model` (for example with LoRA adapters applied) with the tokenizer of the model directory
  /// `directory`, as ``init(directory:)`` reads it.
  public convenience init(model: Llama, directory: String) throws {
    let pretrained = try ModelDirectory(path: directory).loadPretrainedTokenizer()
    try self.init(model: model, tokenizer: pretrained.tokenizer, origin: directory)
    addsBOS = pretrained.addsBOS
    addsEOS = pretrained.addsEOS
  }

  /// The ids of `text` as the tokenizer encodes it by default (BOS and EOS as ``addsBOS`` and
  /// ``addsEOS`` say).
  public func encode(_ text: String) throws -> [Int32] {
    var ids: [Int32] = []
    if addsBOS, let bos = tokenizer.specialIDs.bos,
      !(tokenizer.piece(for: bos).map { !$0.isEmpty && text.hasPrefix($0) } ?? false)
    {
      ids.append(Int32(bos))
    }
    try tokenizer.encode(text, appendingTo: &ids)
    if addsEOS, let eos = tokenizer.specialIDs.eos { ids.append(Int32(eos)) }
    return ids
  }

  /// The ids of `text` with no special tokens.
  public func encodeWithoutSpecialTokens(_ text: String) throws -> [Int32] {
    var ids: [Int32] = []
    try tokenizer.encode(text, appendingTo: &ids)
    return ids
  }

  /// An empty context: the prefix token, unless the continuation already starts with it.
  private func emptyContextPair(_ continuation: String) throws -> (
    context: [Int32], continuation: [Int32]
  ) {
    let ids = try encodeWithoutSpecialTokens(continuation)
    if ids.first == prefixTokenID { return ([ids[0]], Array(ids.dropFirst())) }
    return ([prefixTokenID], ids)
  }

  /// The harness's `_encode_pair`: trailing white space of the context moves to the
  /// continuation; the continuation's tokens are those of `context + continuation` after as
  /// many tokens as the context alone has.
  public func encodePair(context: String, continuation: String) throws -> (
    context: [Int32], continuation: [Int32]
  ) {
    var context = context
    var continuation = continuation
    let trailing = context.reversed().prefix { $0.isWhitespace }.count
    if trailing > 0 {
      continuation = String(context.suffix(trailing)) + continuation
      context = String(context.dropLast(trailing))
    }
    if context.isEmpty { return try emptyContextPair(continuation) }
    let whole = try encode(context + continuation)
    let contextIDs = try encode(context)
    return (contextIDs, Array(whole.dropFirst(min(contextIDs.count, whole.count))))
  }

  /// The scores of several continuations of one context: the context's tokens run through the
  /// model once, into a KV cache every continuation resumes from.
  public func score(context: String, continuations: [String]) throws -> [ContinuationScore] {
    var pairs: [(context: [Int32], continuation: [Int32])] = []
    for continuation in continuations {
      let pair: (context: [Int32], continuation: [Int32])
      if context.isEmpty {
        pair = try emptyContextPair(continuation)
      } else {
        pair = try encodePair(context: context, continuation: continuation)
      }
      pairs.append(pair)
    }
    // The choices share the context's tokens (an empty context's may differ per choice).
    guard let first = pairs.first else { return [] }
    if pairs.allSatisfy({ $0.context == first.context }) {
      return scoreTokens(context: first.context, continuations: pairs.map(\.continuation))
    }
    return pairs.map { scoreTokens(context: $0.context, continuations: [$0.continuation])[0] }
  }

  /// The scores of token continuations of one token context (`_loglikelihood_tokens`): the input
  /// is `context + continuation` less its last token, cut on the left to `maxLength`.
  public func scoreTokens(context: [Int32], continuations: [[Int32]]) -> [ContinuationScore] {
    precondition(!context.isEmpty, "scoreTokens: empty context")
    let longest = continuations.map(\.count).max() ?? 0
    // Shared prefill when every input fits: the context less its last token is cached once.
    if context.count + longest <= maxLength + 1 && continuations.count > 1 {
      let cache = model.makeCache(capacity: context.count - 1 + max(longest, 1))
      let prefix = Array(context.dropLast())
      if !prefix.isEmpty { _ = model.hiddenStates(prefix, cache: cache) }
      return continuations.map { continuation in
        guard !continuation.isEmpty else {
          return ContinuationScore(logLikelihood: 0, isGreedy: true, tokenCount: 0)
        }
        cache.truncate(to: prefix.count)
        let input = [context.last!] + continuation.dropLast()
        let logits = model(input, cache: cache).value
        return Self.scoreRows(logits, targets: continuation, firstRow: 0)
      }
    }
    return continuations.map { continuation in
      guard !continuation.isEmpty else {
        return ContinuationScore(logLikelihood: 0, isGreedy: true, tokenCount: 0)
      }
      let whole = context + continuation
      let input = Array(whole.suffix(maxLength + 1).dropLast())
      let logits = model(input).value
      return Self.scoreRows(
        logits, targets: continuation, firstRow: input.count - continuation.count)
    }
  }

  /// Sums `log_softmax(logits[row])[target]` over the rows from `firstRow` (one per target).
  static func scoreRows(_ logits: Tensor, targets: [Int32], firstRow: Int) -> ContinuationScore {
    let vocabulary = logits.shape.last!
    return logits.withUnsafeBufferPointer { buffer in
      var total = 0.0
      var greedy = true
      for (offset, target) in targets.enumerated() {
        let row = UnsafeBufferPointer(
          rebasing: buffer[
            ((firstRow + offset) * vocabulary)..<((firstRow + offset + 1) * vocabulary)])
        let (logProbability, isArgmax) = logSoftmax(row, at: Int(target))
        total += logProbability
        greedy = greedy && isArgmax
      }
      return ContinuationScore(logLikelihood: total, isGreedy: greedy, tokenCount: targets.count)
    }
  }

  /// `log_softmax(row)[index]` in Float64, and whether `index` is the row's (first) argmax.
  public static func logSoftmax(_ row: UnsafeBufferPointer<Float>, at index: Int) -> (Double, Bool)
  {
    var maximum = -Float.infinity
    var argmax = 0
    for (position, value) in row.enumerated() where value > maximum {
      maximum = value
      argmax = position
    }
    var sum = 0.0
    for value in row { sum += exp(Double(value - maximum)) }
    return (Double(row[index] - maximum) - log(sum), argmax == index)
  }

  /// The log-likelihood of a whole text (`loglikelihood_rolling`): its tokens after the prefix
  /// token, in disjoint windows of at most `maxLength` predicted tokens, each window seeing up to
  /// `maxLength` tokens before it.
  public func rollingLogLikelihood(_ text: String) throws -> Double {
    let tokens = try encode(text)
    var total = 0.0
    for window in Self.rollingWindows(
      tokens: tokens, prefixToken: prefixTokenID, maxLength: maxLength)
    {
      total +=
        scoreTokens(context: window.context, continuations: [window.continuation])[0]
        .logLikelihood
    }
    return total
  }

  /// The harness's `get_rolling_token_windows` with context length 1, made disjoint
  /// (`make_disjoint_window`): each window's context and the tokens it predicts.
  public static func rollingWindows(tokens: [Int32], prefixToken: Int32, maxLength: Int) -> [(
    context: [Int32], continuation: [Int32]
  )] {
    guard !tokens.isEmpty else { return [] }
    var windows: [(context: [Int32], continuation: [Int32])] = []
    func disjoint(_ context: [Int32], _ continuation: [Int32]) {
      windows.append(
        (Array(context.prefix(context.count - (continuation.count - 1))), continuation))
    }
    let firstLength = min(maxLength, tokens.count)
    disjoint([prefixToken] + tokens.prefix(firstLength - 1), Array(tokens.prefix(firstLength)))
    var predicted = firstLength
    while predicted < tokens.count {
      let length = min(tokens.count - predicted, maxLength)
      let end = predicted + length
      disjoint(
        Array(tokens[max(0, end - maxLength - 1)..<(end - 1)]), Array(tokens[(end - length)..<end]))
      predicted += length
    }
    return windows
  }

  /// The greedy answer to `context`: at most `maxTokens` new tokens (the context cut on the left
  /// to leave room for them), stopping at the end-of-text token or once any of `until` appears;
  /// the text is cut before the first stop sequence.
  public func generate(context: String, until: [String], maxTokens: Int) throws -> String {
    var prompt = try encode(context)
    if prompt.isEmpty { prompt = [prefixTokenID] }
    let room = max(1, maxLength - maxTokens)
    if prompt.count > room { prompt = Array(prompt.suffix(room)) }
    var stops: Set<Int32> = []
    if let endOfTextID { stops.insert(endOfTextID) }
    var generated: [Int32] = []
    var decodeError: Error? = nil
    let options = GenerationOptions(
      maxNewTokens: maxTokens, sampling: SamplingOptions(greedy: true), stopTokens: stops)
    _ = model.generate(prompt: prompt, options: options) { token in
      generated.append(token)
      guard !until.isEmpty else { return true }
      do {
        let text = try self.decode(generated)
        return !until.contains { !$0.isEmpty && text.contains($0) }
      } catch {
        decodeError = error
        return false
      }
    }
    if let decodeError { throw decodeError }
    var text = try decode(generated)
    for stop in until where !stop.isEmpty {
      if let range = text.range(of: stop) { text = String(text[..<range.lowerBound]) }
    }
    return text
  }

  /// The text of generated tokens as transformers decodes them: special tokens skipped, and a
  /// run of byte-fallback pieces (`<0xNN>`) that is not valid UTF-8 as one U+FFFD per piece
  /// (the `ByteFallback` decoder of `tokenizers`; sentencepiece itself keeps the valid bytes).
  private func decode(_ ids: [Int32]) throws -> String {
    let kept = ids.filter { !specialTokenIDs.contains($0) }.map(Int.init)
    var runs: [(bytes: Bool, ids: [Int])] = []
    for id in kept {
      let isByte = Self.fallbackByte(tokenizer.piece(for: id)) != nil
      if let last = runs.last, last.bytes == isByte {
        runs[runs.count - 1].ids.append(id)
      } else {
        runs.append((isByte, [id]))
      }
    }
    let invalid = runs.contains { run in
      run.bytes
        && String(
          validating: run.ids.compactMap { Self.fallbackByte(tokenizer.piece(for: $0)) },
          as: UTF8.self) == nil
    }
    guard invalid else { return try tokenizer.decode(kept) }
    var text = ""
    for run in runs {
      let bytes =
        run.bytes ? run.ids.compactMap { Self.fallbackByte(tokenizer.piece(for: $0)) } : []
      if run.bytes, String(validating: bytes, as: UTF8.self) == nil {
        text += String(repeating: "\u{FFFD}", count: run.ids.count)
      } else {
        text += try tokenizer.decode(run.ids)
      }
    }
    return text
  }

  /// The byte of a byte-fallback piece `<0xNN>`, else nil.
  static func fallbackByte(_ piece: String?) -> UInt8? {
    guard let piece, piece.utf8.count == 6, piece.hasPrefix("<0x"), piece.hasSuffix(">") else {
      return nil
    }
    return UInt8(piece.dropFirst(3).dropLast(), radix: 16)
  }
}
