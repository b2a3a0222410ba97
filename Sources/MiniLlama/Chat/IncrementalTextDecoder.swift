import MiniTokenize

/// Decodes tokens as they are generated into text chunks that never split a UTF-8 character.
///
/// A character outside the vocabulary arrives as several byte-fallback pieces (`<0xE4>`,
/// `<0xB8>`, `<0xAD>` for 中); until the last one arrives the decoded text ends in replacement
/// characters. Each `append` decodes the whole list again and hands out only the new text up
/// to the last complete character, holding back trailing U+FFFD until a later token settles
/// it; `finish` hands out the rest. The chunks concatenate to `decode(tokens)`.
///
/// - Complexity: `append` decodes all tokens so far: O(n) per token, O(n²) per reply, which
///   for replies of a few hundred tokens costs far less than one decoding step of the model.
public struct IncrementalTextDecoder: Sendable {
  /// The tokenizer.
  public let tokenizer: any Tokenizer
  /// Every token appended, in order.
  public private(set) var tokens: [Int] = []
  /// The UTF-8 bytes handed out so far.
  private var emitted: [UInt8] = []

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

  private mutating func take(final: Bool) throws -> String {
    let decoded = Array(try tokenizer.decode(tokens).utf8)
    // Decoding is prefix-stable for sentencepiece apart from the trailing replacement
    // characters of an unfinished character; wait if a tokenizer ever breaks that.
    guard decoded.count >= emitted.count, decoded.starts(with: emitted) else { return "" }
    var end = decoded.count
    if !final {
      let replacement: [UInt8] = [0xEF, 0xBF, 0xBD]
      while end - 3 >= emitted.count && Array(decoded[(end - 3)..<end]) == replacement {
        end -= 3
      }
    }
    guard end > emitted.count else { return "" }
    let chunk = decoded[emitted.count..<end]
    emitted.append(contentsOf: chunk)
    return String(decoding: chunk, as: UTF8.self)
  }
}
