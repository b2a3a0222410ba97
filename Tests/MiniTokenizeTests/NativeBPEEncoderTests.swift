import Foundation
import MiniTokenize
import TestSupport
import Testing

@Suite("Native BPE encoder")
struct NativeBPEEncoderTests {
  /// Checks that `encode` (native) and libsentencepiece give the same ids for every text.
  func expectSameIDs(_ tokenizer: SentencePieceTokenizer, _ texts: [String], _ label: String) throws
  {
    #expect(tokenizer.usesNativeEncoder, "\(label): the native encoder should be in use")
    var mismatches = 0
    for text in texts {
      var native: [Int32] = []
      var library: [Int32] = []
      var copy = text
      try copy.withUTF8 { utf8 in
        try tokenizer.encode(utf8: UnsafeRawBufferPointer(utf8), appendingTo: &native)
        try tokenizer.libraryEncode(utf8: UnsafeRawBufferPointer(utf8), appendingTo: &library)
      }
      if native != library {
        mismatches += 1
        if mismatches <= 3 {
          Issue.record("\(label): ids differ for \(String(text.prefix(80)).debugDescription)")
        }
      }
    }
    #expect(mismatches == 0, "\(label): \(mismatches) of \(texts.count) texts differ")
  }

  /// Random strings mixing CJK, emoji, spaces, tabs, `▁`, specials and partial specials.
  static func randomTexts(seed: UInt64, count: Int) -> [String] {
    var rng = SplitMix64(state: seed)
    let fragments = [
      " ", "  ", "\t", "\n", "▁", "<|im_start|>", "<|im_end|>", "<|im_", "<|", "|>", "123", "4567",
      "hello", " world", "你好", "，", "。", "😀", "𠀀", "é", "e\u{301}", "龘", "ab", "ing", "<s>", "</s>",
    ]
    let ranges: [ClosedRange<UInt32>] = [
      0x4E00...0x9FFF, 0x20...0x7E, 0x1F300...0x1F6FF, 0x3040...0x30FF,
    ]
    return (0..<count).map { _ in
      var text = ""
      for _ in 0..<(1 + rng.next(below: 40)) {
        if rng.next(below: 2) == 0 {
          text += fragments[rng.next(below: fragments.count)]
        } else {
          let range = ranges[rng.next(below: ranges.count)]
          let value =
            range.lowerBound + UInt32(rng.next(below: Int(range.upperBound - range.lowerBound) + 1))
          if let scalar = Unicode.Scalar(value) { text.unicodeScalars.append(scalar) }
        }
      }
      return text
    }
  }

  @Test("Models trained here: native ids equal libsentencepiece's", arguments: [false, true])
  func trainedModels(addDummyPrefix: Bool) throws {
    let tokenizer = try trainTinyModel(addDummyPrefix: addDummyPrefix)
    try expectSameIDs(
      tokenizer, Self.randomTexts(seed: 21, count: 400) + trainingLines(count: 200, seed: 4),
      "tiny model, dummy prefix \(addDummyPrefix)")
  }

  @Test("Unigram models without byte fallback encode through libsentencepiece")
  func unigramUsesLibrary() throws {
    var options = SentencePieceTrainingOptions(vocabularySize: 450, modelType: .unigram)
    options.byteFallback = false
    var lines = trainingLines()[...]
    let tokenizer = try SentencePieceTokenizer.train(options: options) { lines.popFirst() }
    #expect(!tokenizer.usesNativeEncoder)
    #expect(try trainTinyModel(vocabularySize: 450, modelType: .unigram).usesNativeUnigramEncoder)
  }

  @Test(
    "ChatGLM2 model: native ids equal libsentencepiece's on the shared corpora and random text",
    .requires(.shared("fixtures/chatglm2-tokenizer/tokenizer.model")),
    .requires(.shared("corpora")))
  func chatGLM2() throws {
    let model = try requireShared("fixtures/chatglm2-tokenizer/tokenizer.model")
    let tokenizer = try SentencePieceTokenizer(contentsOf: model)
    var texts = Self.randomTexts(seed: 22, count: 300)
    for file in ["alpaca_zh_demo.json", "c4_demo.jsonl", "dpo_zh_demo.json"] {
      let path = try requireShared("corpora/\(file)")
      let reader = try CorpusReader(path: path)
      while let record = try reader.next() {
        switch record {
        case .document(let document): texts.append(document.text)
        case .conversation(let conversation): texts += conversation.messages.map(\.content)
        case .preference(let pair):
          texts += pair.prompt.messages.map(\.content) + [pair.chosen, pair.rejected]
        }
      }
    }
    try expectSameIDs(tokenizer, texts, "ChatGLM2")
  }
}
