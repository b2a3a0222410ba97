import MiniTokenize

/// Decodes tokens as they are generated into text chunks that never split a UTF-8 character.
///
/// A character outside the vocabulary arrives as several byte-fallback pieces (`<0xE4>`,
/// `<0xB8>`, `<0xAD>` for 中); until the last one arrives the decoded text ends in replacement
/// characters. Each `append` decodes the tokens of a short window again and hands out only the
/// new text up to the last complete character, holding back trailing U+FFFD until a later
/// token settles it; `finish` hands out the rest. The chunks concatenate to `decode(tokens)`.
///
/// The window starts a few tokens back, at a point where everything before had decoded to
/// whole characters, as vLLM's incremental detokenizer keeps a prefix: decoding from there
/// strips a leading space the same way every time (sentencepiece's dummy prefix), so the text
/// after the window's handed-out part is exactly what the whole list would add.
///
/// - Complexity: `append` decodes at most ``windowLimit`` tokens plus the characters still
///   incomplete: O(1) per token for text that settles.
public struct IncrementalTextDecoder: Sendable {
  /// The tokenizer.
  public let tokenizer: any Tokenizer
  /// Every token appended, in order.
  public private(set) var tokens: [Int] = []
  /// The UTF-8 bytes handed out so far.
  private var emitted: [UInt8] = []
  /// Where the decoded window starts in `tokens`.
  private var windowStart = 0
  /// Bytes of the window's decoding handed out (the tail of `emitted`).
  private var windowEmitted = 0
  /// Token counts after which every token had decoded to whole characters, newest last.
  private var settled: [Int] = []

  /// Tokens the window may hold before it moves up to a settled point.
  public static let windowLimit = 16

  /// A decoder with no tokens.
  public init(tokenizer: any Tokenizer) {
    self.tokenizer = tokenizer
  }

  /// The text handed out so far (after `finish`, the decoded text of every token).
  public var text: String { String(decoding: emitted, as: UTF8.self) }

  /// Adds `token` and returns the new complete text (empty while a character is incomplete).
  /// Ids outside the tokenizer's vocabulary (a model's padding rows) decode to nothing.
  /// - Throws: `TokenizerError` when decoding fails.
  public mutating func append(_ token: Int32) throws -> String {
    guard token >= 0 && Int(token) < tokenizer.vocabularySize else { return "" }
    tokens.append(Int(token))
    return try take(final: false)
  }

  /// Returns the text not yet handed out, including replacement characters for bytes that
  /// never formed a character.
  /// - Throws: `TokenizerError` when decoding fails.
  public mutating func finish() throws -> String {
    try take(final: true)
  }

  private func decodedBytes(from start: Int) throws -> [UInt8] {
    Array(try tokenizer.decode(Array(tokens[start...])).utf8)
  }

  private mutating func take(final: Bool) throws -> String {
    let decoded = try decodedBytes(from: windowStart)
    // Decoding is prefix-stable apart from the trailing replacement characters of an
    // unfinished character; wait if a tokenizer ever breaks that.
    guard decoded.count >= windowEmitted, decoded.starts(with: emitted.suffix(windowEmitted))
    else { return "" }
    var end = decoded.count
    if !final {
      let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]
      while end - 3 >= windowEmitted && Array(decoded[(end - 3)..<end]) == replacement {
        end -= 3
      }
    }
    let chunk = end > windowEmitted ? decoded[windowEmitted..<end] : []
    emitted.append(contentsOf: chunk)
    windowEmitted = max(windowEmitted, end)
    if end == decoded.count && !final {
      try settle()
    }
    return String(decoding: chunk, as: UTF8.self)
  }

  /// Records that every token so far has decoded to whole characters, and moves the window up
  /// to an earlier such point once it holds more than ``windowLimit`` tokens.
  private mutating func settle() throws {
    settled.append(tokens.count)
    guard tokens.count - windowStart > Self.windowLimit else { return }
    // The newest settled point at least four tokens back, so the window keeps some context.
    guard let start = settled.last(where: { $0 > windowStart && $0 <= tokens.count - 4 })
    else { return }
    let tail = try decodedBytes(from: start)
    // Move only where decoding from there gives what was handed out for those tokens.
    if tail.count <= emitted.count && emitted.suffix(tail.count).elementsEqual(tail) {
      windowStart = start
      windowEmitted = tail.count
      settled.removeAll { $0 <= start }
    }
  }
}
