import Foundation
import MiniTokenize
import TestSupport
import Testing

/// The unigram Viterbi search against Hugging Face `tokenizers` (on the model's own
/// `tokenizer.json`) and against libsentencepiece.
@Suite("Native unigram encoder")
struct NativeUnigramEncoderTests {
  /// A unigram model trained on mixed text: byte fallback, the ChatML pieces as user-defined
  /// pieces and no dummy prefix (the trainer's defaults), or the dummy prefix and no
  /// user-defined pieces.
  static func model(dummyPrefix: Bool) throws -> SentencePieceTokenizer {
    var options = SentencePieceTrainingOptions(vocabularySize: 480, modelType: .unigram)
    if dummyPrefix {
      options.addDummyPrefix = true
    } else {
      options.userDefinedSymbols = ["<|im_start|>", "<|im_end|>"]
    }
    var lines = MixedText.make(minimumBytes: 60_000, seed: 3).unicodeScalars
      .split(separator: "\n").map { String($0) }[...]
    return try SentencePieceTokenizer.train(options: options) { lines.popFirst() }
  }

  /// The lines of 110 KB of mixed text, then random strings.
  static func texts() -> [String] {
    MixedText.make(minimumBytes: 110_000, seed: 17).unicodeScalars
      .split(separator: "\n", omittingEmptySubsequences: false).map { String($0) }
      + NativeBPEEncoderTests.randomTexts(seed: 23, count: 300)
  }

  @Test(
    "Differences from libsentencepiece are exact ties: the same text, the best Double score",
    arguments: [false, true])
  func tiesOnly(dummyPrefix: Bool) throws {
    let tokenizer = try Self.model(dummyPrefix: dummyPrefix)
    #expect(tokenizer.usesNativeEncoder && tokenizer.usesNativeUnigramEncoder)
    let texts = Self.texts()
    var differing = 0
    for text in texts {
      var native: [Int32] = []
      var library: [Int32] = []
      var copy = text
      try copy.withUTF8 { utf8 in
        try tokenizer.encode(utf8: UnsafeRawBufferPointer(utf8), appendingTo: &native)
        try tokenizer.libraryEncode(utf8: UnsafeRawBufferPointer(utf8), appendingTo: &library)
      }
      guard native != library else { continue }
      differing += 1
      let mine = native.map(Int.init)
      let theirs = library.map(Int.init)
      #expect(try tokenizer.decode(mine) == tokenizer.decode(theirs), "\(text.debugDescription)")
      // libsentencepiece sums Float scores: its path can fall short of the best Double sum by
      // the rounding of one Float sum (each addition rounds by at most 2^-24 of the running
      // magnitude), never exceed it.
      func score(_ ids: [Int]) -> Double { ids.reduce(0) { $0 + Double(tokenizer.score(for: $1)) } }
      let magnitude = theirs.reduce(0) { $0 + abs(Double(tokenizer.score(for: $1))) }
      let gap = score(mine) - score(theirs)
      #expect(gap >= -1e-12 * magnitude, "ours is the best path: \(text.debugDescription)")
      #expect(
        gap <= Double(theirs.count + 1) * 0x1p-23 * magnitude,
        "only a Float rounding apart: \(text.debugDescription)")
    }
    print(
      "unigram, dummy prefix \(dummyPrefix): \(differing) of \(texts.count) texts differ from "
        + "libsentencepiece")
    #expect(differing < texts.count / 4)
  }

  static let script = #"""
    import json, sys
    from tokenizers import Tokenizer
    tokenizer_path, texts_path, out = sys.argv[1:4]
    tok = Tokenizer.from_file(tokenizer_path)
    texts = json.load(open(texts_path, encoding="utf-8"))
    json.dump([tok.encode(text, add_special_tokens=False).ids for text in texts],
              open(out, "w", encoding="utf-8"))
    """#

  @Test(
    "Ids equal tokenizers' on the model's tokenizer.json", .requires(.python("tokenizers")),
    arguments: [false, true])
  func tokenizersParity(dummyPrefix: Bool) throws {
    let python = try PythonRunner.requirePeers(importing: ["tokenizers"])
    let directory = try temporaryDirectory("unigram-\(dummyPrefix)")
    let tokenizer = try Self.model(dummyPrefix: dummyPrefix)
    let json = try #require(tokenizer.tokenizerJSON(addsBOS: false, addsEOS: false))
    let jsonPath = try writeBytes(json, named: "tokenizer.json", in: directory)
    let whole = MixedText.make(minimumBytes: 110_000, seed: 17)
    // Control pieces written in the text are added tokens for tokenizers and characters for
    // sentencepiece (see Docs/Tokenizers.md): such texts are left out.
    let controls = tokenizer.addedTokenIDs.filter { tokenizer.kind(of: $0) != .normal }
      .compactMap { tokenizer.piece(for: $0) }
    let texts = ([whole] + Self.texts()).filter { text in
      // Bytes, not characters: `</s>🏻` is one grapheme cluster ending in `>🏻`.
      !controls.contains { text.utf8.firstRange(of: $0.utf8) != nil }
    }
    #expect(texts.count > 1_900)
    let textsPath = try writeBytes(
      Array(try JSONSerialization.data(withJSONObject: texts)), named: "texts.json", in: directory)
    let scriptPath = try writeFile(Self.script, named: "encode.py", in: directory)
    let outPath = directory + "/ids.json"
    let result = python.run([scriptPath, jsonPath, textsPath, outPath])
    if case .failure(let failure) = result { Issue.record("python: \(failure.reason)") }
    try #require((try? result.get()) != nil)
    let expected = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: outPath)))
        as? [[Int]])
    try #require(expected.count == texts.count)
    var differing: [String] = []
    for (text, want) in zip(texts, expected) where try tokenizer.encode(text) != want {
      differing.append(text)
    }
    #expect(differing.isEmpty, "\(differing.count) differ, e.g. \(differing.prefix(3))")
  }
}
