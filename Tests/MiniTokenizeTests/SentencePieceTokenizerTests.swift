import Foundation
import MiniTokenize
import TestSupport
import Testing

@Suite("SentencePieceTokenizer")
struct SentencePieceTokenizerTests {
  @Test(
    "ChatGLM2 model: every expected.json case encodes to its ids and pieces and decodes back",
    .requires(.shared("fixtures/chatglm2-tokenizer")))
  func chatGLM2Fixture() throws {
    let directory = try requireShared("fixtures/chatglm2-tokenizer")
    let tokenizer = try SentencePieceTokenizer(contentsOf: directory)
    let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json"))
    let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let meta = try #require(root["meta"] as? [String: Any])
    #expect(tokenizer.vocabularySize == meta["vocab_size"] as? Int)
    #expect(tokenizer.specialIDs.unknown == meta["unk"] as? Int)
    #expect(tokenizer.specialIDs.bos == meta["bos"] as? Int)
    #expect(tokenizer.specialIDs.eos == meta["eos"] as? Int)
    #expect(tokenizer.specialIDs.pad == nil)
    let cases = try #require(root["cases"] as? [[String: Any]])
    #expect(cases.count >= 10)
    for entry in cases {
      let text = try #require(entry["text"] as? String)
      let ids = try #require(entry["ids"] as? [Int])
      let pieces = try #require(entry["pieces"] as? [String])
      #expect(try tokenizer.encode(text) == ids, "ids of \(text.debugDescription)")
      #expect(try tokenizer.encodeAsPieces(text) == pieces, "pieces of \(text.debugDescription)")
      #expect(ids.map { tokenizer.piece(for: $0) } == pieces)
      #expect(try tokenizer.decode(ids) == entry["decoded"] as? String)
      #expect(try tokenizer.decode(ids) == text)
    }
  }

  @Test("Round trip decode(encode(s)) == s for random UTF-8", arguments: [false, true])
  func randomRoundTrip(addDummyPrefix: Bool) throws {
    let tokenizer = try trainTinyModel(addDummyPrefix: addDummyPrefix)
    var rng = SplitMix64(state: addDummyPrefix ? 11 : 12)
    let ranges: [ClosedRange<UInt32>] = [
      0x20...0x7E, 0x4E00...0x9FFF, 0x3000...0x303F, 0xFF01...0xFF5E, 0x1F600...0x1F64F,
      0x0300...0x036F, 0xAC00...0xD7A3, 0x20000...0x2A6DF, 0x00A0...0x024F,
    ]
    for trial in 0..<60 {
      let length = trial < 50 ? 1 + rng.next(below: 60) : 5_000 + rng.next(below: 5_000)
      var text = ""
      for _ in 0..<length {
        switch rng.next(below: 20) {
        case 0: text += "\n"
        case 1: text += "\t"
        case 2: text += "  "
        default:
          let range = ranges[rng.next(below: ranges.count)]
          let value =
            range.lowerBound + UInt32(rng.next(below: Int(range.upperBound - range.lowerBound) + 1))
          // U+2581 is sentencepiece's own space marker; it decodes to a space by design.
          if value != 0x2581, let scalar = Unicode.Scalar(value) {
            text.unicodeScalars.append(scalar)
          }
        }
      }
      let ids = try tokenizer.encode(text)
      #expect(ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize })
      let decoded = try tokenizer.decode(ids)
      #expect(
        Array(decoded.utf8) == Array(text.utf8),
        "trial \(trial), \(text.unicodeScalars.count) scalars")
    }
  }

  @Test("Training keeps special tokens whole, splits digits and falls back to bytes")
  func trainingOptions() throws {
    let tokenizer = try trainTinyModel()
    #expect(tokenizer.vocabularySize == 420)
    let start = try #require(tokenizer.id(for: "<|im_start|>"))
    let end = try #require(tokenizer.id(for: "<|im_end|>"))
    let ids = try tokenizer.encode("<|im_start|>hello world<|im_end|>")
    #expect(ids.first == start && ids.last == end)
    #expect(ids.filter { $0 == start }.count == 1)
    let digits = try tokenizer.encodeAsPieces("2024")
    #expect(digits == ["2", "0", "2", "4"])
    let rare = try tokenizer.encodeAsPieces("龘")
    #expect(rare == ["<0xE9>", "<0xBE>", "<0x98>"])
    #expect(try tokenizer.encode("龘").allSatisfy { tokenizer.kind(of: $0) == .byte })
    #expect(tokenizer.kind(of: try #require(tokenizer.specialIDs.eos)) == .control)
    #expect(tokenizer.kind(of: try #require(tokenizer.specialIDs.unknown)) == .unknown)
    // Identity normalisation: full-width punctuation and digits survive.
    #expect(try tokenizer.decode(tokenizer.encode("，９")) == "，９")
  }

  @Test("Sentences over maxSentenceLength bytes are left out of training")
  func maximumSentenceLength() throws {
    var options = SentencePieceTrainingOptions(vocabularySize: 300)
    options.maxSentenceLength = 27
    var lines = (trainingLines() + ["床前明月光，疑是地上霜。举头望明月，低头思故乡。"])[...]
    let short = try SentencePieceTokenizer.train(options: options) { lines.popFirst() }
    // The Chinese training lines are all longer than 27 bytes: their characters fall back to bytes.
    #expect(try short.encode("床").allSatisfy { short.kind(of: $0) == .byte })
    #expect(try short.encode("the").allSatisfy { short.kind(of: $0) == .normal })
    let full = try trainTinyModel()
    #expect(try full.encode("床").allSatisfy { full.kind(of: $0) == .normal })
  }

  @Test("Unigram models train too", arguments: [SentencePieceTrainingOptions.ModelType.unigram])
  func unigram(type: SentencePieceTrainingOptions.ModelType) throws {
    let tokenizer = try trainTinyModel(vocabularySize: 450, modelType: type, specials: [])
    #expect(tokenizer.vocabularySize == 450)
    let text = "床前明月光 hello 😀"
    #expect(try tokenizer.decode(tokenizer.encode(text)) == text)
  }

  @Test("A trained model saved and reloaded encodes the same; training is reproducible")
  func saveAndReload() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let tokenizer = try trainTinyModel()
    let path = directory + "/tokenizer.model"
    try tokenizer.write(to: path)
    let reloaded = try SentencePieceTokenizer(contentsOf: directory)
    let text = trainingLines(count: 20, seed: 99).joined(separator: "\n")
    #expect(try reloaded.encode(text) == tokenizer.encode(text))
    #expect(reloaded.sha256 == tokenizer.sha256)
    #expect(try trainTinyModel().modelBytes == tokenizer.modelBytes)
  }

  @Test("Errors name the file or id and never crash")
  func errors() throws {
    #expect(throws: TokenizerError.self) {
      try SentencePieceTokenizer(contentsOf: "/nonexistent/tokenizer.model")
    }
    #expect(throws: TokenizerError.self) {
      try SentencePieceTokenizer(modelBytes: Array("not a model".utf8))
    }
    let tokenizer = try trainTinyModel()
    #expect(throws: TokenizerError.idOutOfRange(id: 420, vocabularySize: 420)) {
      try tokenizer.decode([3, 420])
    }
    #expect(throws: TokenizerError.idOutOfRange(id: -1, vocabularySize: 420)) {
      try tokenizer.decode([-1])
    }
    #expect(tokenizer.piece(for: 420) == nil)
    #expect(tokenizer.id(for: "no-such-piece-here") == nil)
    var options = SentencePieceTrainingOptions(vocabularySize: 40)
    var lines = trainingLines()[...]
    #expect(throws: TokenizerError.self) {
      try SentencePieceTokenizer.train(options: options) { lines.popFirst() }
    }
    options.vocabularySize = 420
    struct SourceFailure: Error {}
    #expect(throws: SourceFailure.self) {
      try SentencePieceTokenizer.train(options: options) { throw SourceFailure() }
    }
  }

  @Test("SHA-256 hex digests, whole and incremental")
  func sha256() {
    #expect(
      SHA256.hex(of: Array("abc".utf8))
        == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    var pieces = SHA256()
    let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
    for chunk in stride(from: 0, to: million.count, by: 999) {
      pieces.update(Array(million[chunk..<min(chunk + 999, million.count)]))
    }
    #expect(
      SHA256.hex(pieces.finalize())
        == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
  }
}
