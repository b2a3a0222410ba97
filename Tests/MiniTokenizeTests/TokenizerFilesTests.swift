import Foundation
import MiniTokenize
import TestSupport
import Testing

/// The tokenizer files of a model directory, without Python: what `TokenizerFiles` writes and
/// how the `tokenizer.json` it writes follows the sentencepiece model's settings.
@Suite struct TokenizerFilesTests {
  static func trained(dummyPrefix: Bool, userSymbols: [String]) throws -> SentencePieceTokenizer {
    var options = SentencePieceTrainingOptions(vocabularySize: 900)
    options.addDummyPrefix = dummyPrefix
    options.userDefinedSymbols = userSymbols
    // In NFC: Foundation's dictionaries (reading the JSON back) would merge the precomposed and
    // decomposed pieces that sentencepiece keeps apart.
    var lines = MixedText.make(minimumBytes: 60_000, seed: 3).precomposedStringWithCanonicalMapping
      .unicodeScalars
      .split(separator: "\n").map { String($0) }[...]
    return try SentencePieceTokenizer.train(options: options) { lines.popFirst() }
  }

  static func object(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  @Test func aPretrainedModelGetsThreeFilesWithoutAChatTemplate() throws {
    let tokenizer = try Self.trained(dummyPrefix: false, userSymbols: ["<|im_start|>"])
    let directory = try temporaryDirectory()
    // A stale tokenizer.json is replaced.
    try Data("{}".utf8).write(to: URL(fileURLWithPath: directory + "/tokenizer.json"))
    let files = TokenizerFiles(tokenizer: tokenizer, renderer: nil, modelMaxLength: 256)
    try files.write(toDirectory: directory)
    #expect(
      try Data(contentsOf: URL(fileURLWithPath: directory + "/tokenizer.model"))
        == Data(tokenizer.modelBytes))
    let config = try Self.object(directory + "/tokenizer_config.json")
    #expect(config["tokenizer_class"] as? String == "PreTrainedTokenizerFast")
    #expect(config["chat_template"] == nil)
    #expect(config["eos_token"] as? String == "</s>")
    #expect(config["model_max_length"] as? Int == 256)
    #expect(config["add_bos_token"] as? Bool == false)
    let added = try #require(config["added_tokens_decoder"] as? [String: [String: Any]])
    let imStart = try #require(tokenizer.id(for: "<|im_start|>"))
    #expect(added[String(imStart)]?["content"] as? String == "<|im_start|>")
    #expect(Set(added.keys) == Set(tokenizer.addedTokenIDs.map(String.init)))

    let json = try Self.object(directory + "/tokenizer.json")
    let model = try #require(json["model"] as? [String: Any])
    #expect(model["type"] as? String == "BPE")
    #expect(model["byte_fallback"] as? Bool == true)
    #expect((model["vocab"] as? [String: Int])?.count == tokenizer.vocabularySize)
    #expect(((model["merges"] as? [Any])?.count ?? 0) > 100)
    let tokens = try #require(json["added_tokens"] as? [[String: Any]])
    #expect(tokens.map { $0["id"] as? Int } == tokenizer.addedTokenIDs.map { Optional($0) })
    let normalizer = try #require(json["normalizer"] as? [String: Any])
    #expect((normalizer["normalizers"] as? [[String: Any]])?.count == 1, "no dummy prefix")
  }

  @Test func theDummyPrefixIsMirrored() throws {
    let plain = try Self.trained(dummyPrefix: true, userSymbols: [])
    let json = try #require(plain.tokenizerJSON(addsBOS: true, addsEOS: false))
    let root = try #require(
      try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any])
    let normalizers = try #require(
      (root["normalizer"] as? [String: Any])?["normalizers"] as? [[String: Any]])
    #expect(normalizers.first?["type"] as? String == "Prepend")
    let decoders = try #require(
      (root["decoder"] as? [String: Any])?["decoders"] as? [[String: Any]])
    #expect(decoders.last?["type"] as? String == "Strip")
    let single = try #require((root["post_processor"] as? [String: Any])?["single"] as? [Any])
    #expect(single.count == 2, "BOS then the text")

    // With user-defined pieces the prefix comes from a Metaspace pre-tokenizer.
    let withSymbols = try Self.trained(dummyPrefix: true, userSymbols: ["<|im_end|>"])
    let otherJSON = try #require(withSymbols.tokenizerJSON(addsBOS: false, addsEOS: false))
    let other = try #require(
      try JSONSerialization.jsonObject(with: Data(otherJSON)) as? [String: Any])
    #expect(other["normalizer"] is NSNull)
    #expect((other["pre_tokenizer"] as? [String: Any])?["prepend_scheme"] as? String == "first")
  }
}
