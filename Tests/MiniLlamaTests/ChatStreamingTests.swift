import Foundation
import MiniLlama
import MiniTokenize
import PipelineTestSupport
import TestSupport
import Testing

@Suite("IncrementalTextDecoder")
struct ChatStreamingTests {
  /// Feeds `ids` one at a time; returns each non-empty piece and the text before `finish`.
  static func stream(_ ids: [Int], tokenizer: SentencePieceTokenizer) throws -> (
    pieces: [String], afterEachToken: [String]
  ) {
    var decoder = IncrementalTextDecoder(tokenizer: tokenizer)
    var pieces: [String] = []
    var afterEachToken: [String] = []
    for id in ids {
      let piece = try decoder.append(Int32(id))
      if !piece.isEmpty { pieces.append(piece) }
      afterEachToken.append(decoder.text)
    }
    let rest = try decoder.finish()
    if !rest.isEmpty { pieces.append(rest) }
    #expect(decoder.text == pieces.joined())
    return (pieces, afterEachToken)
  }

  @Test func byteFallbackCharactersAreNeverSplit() throws {
    let tokenizer = try tinyChatTokenizer()
    // Kana, emoji, accents and a character outside the BMP: none is in the training lines.
    let text = "こんにちは😀 Grüße ñandú 𝄞 床前明月光 done"
    let ids = try tokenizer.encode(text)
    #expect(try tokenizer.decode(ids) == text)
    let byteCount = ids.filter { tokenizer.kind(of: $0) == .byte }.count
    #expect(byteCount >= 30, "the text should be mostly byte pieces, got \(byteCount)")
    let (pieces, _) = try Self.stream(ids, tokenizer: tokenizer)
    #expect(pieces.joined() == text)
    for piece in pieces {
      #expect(!piece.unicodeScalars.contains("\u{FFFD}"), "\(piece.debugDescription) is split")
    }
    #expect(pieces.count < ids.count, "bytes of one character should come out together")
    // Every piece is whole characters of the text, in order.
    var offset = text.utf8.startIndex
    for piece in pieces {
      let end = text.utf8.index(offset, offsetBy: piece.utf8.count)
      #expect(String(text[offset..<end]) == piece)
      offset = end
    }
  }

  @Test func anUnfinishedCharacterWaitsUntilTheEnd() throws {
    let tokenizer = try tinyChatTokenizer()
    // 中 is E4 B8 AD; only its first two bytes arrive.
    let ids = try ["<0xE4>", "<0xB8>"].map { try #require(tokenizer.id(for: $0)) }
    var decoder = IncrementalTextDecoder(tokenizer: tokenizer)
    #expect(try decoder.append(Int32(ids[0])) == "")
    #expect(try decoder.append(Int32(ids[1])) == "")
    let rest = try decoder.finish()
    #expect(rest == (try tokenizer.decode(ids)))
    #expect(rest.unicodeScalars.allSatisfy { $0 == "\u{FFFD}" } && !rest.isEmpty)
    // With the third byte the character comes out whole.
    var complete = IncrementalTextDecoder(tokenizer: tokenizer)
    var out = ""
    for piece in ["<0xE4>", "<0xB8>", "<0xAD>"] {
      out += try complete.append(Int32(try #require(tokenizer.id(for: piece))))
    }
    #expect(out == "中")
  }

  @Test func aLongReplyStreamsToItsDecodingThroughAMovingWindow() throws {
    let tokenizer = try tinyChatTokenizer()
    let line = "床前明月光，疑是地上霜。 The moon shines on the floor; Grüße 😀 ñandú.  两个  空格"
    let text = (0..<12).map { "\($0): \(line)" }.joined(separator: "\n")
    let ids = try tokenizer.encode(text)
    #expect(ids.count > 8 * IncrementalTextDecoder.windowLimit)
    let (pieces, afterEachToken) = try Self.stream(ids, tokenizer: tokenizer)
    #expect(pieces.joined() == text)
    for (index, shown) in afterEachToken.enumerated() {
      #expect(Array(text.utf8).starts(with: Array(shown.utf8)), "after token \(index)")
    }
  }

  @Test(arguments: UInt64(0)..<24)
  func randomTokensStreamToTheirDecoding(seed: UInt64) throws {
    let tokenizer = try tinyChatTokenizer()
    var state = seed &* 0x9E37_79B9_7F4A_7C15 &+ 1
    func next(_ bound: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((state >> 33) % UInt64(bound))
    }
    // Short lists, and long ones that move the decoding window many times.
    let ids = (0..<(seed % 2 == 0 ? 40 : 400)).map { _ in next(tokenizer.vocabularySize) }
    let full = try tokenizer.decode(ids)
    let (pieces, afterEachToken) = try Self.stream(ids, tokenizer: tokenizer)
    #expect(pieces.joined() == full)
    // What has been handed out is always a prefix of the final text, byte for byte.
    for (index, shown) in afterEachToken.enumerated() {
      #expect(Array(full.utf8).starts(with: Array(shown.utf8)), "after token \(index)")
    }
  }
}
