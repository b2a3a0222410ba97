import Foundation
import MiniTokenize
import TestSupport
import Testing

/// Byte-level BPE against Hugging Face `tokenizers`: for each pre-tokenizer kind, a tokenizer
/// is trained in Python on mixed text and saved as `tokenizer.json`; the Swift reader must give
/// the same ids on more than 100 KB of mixed text, and the same decoded text.
@Suite("ByteLevelBPETokenizer against tokenizers")
struct ByteLevelBPEPythonTests {
  /// The kinds the script builds (see `script`).
  static let kinds = [
    "gpt2", "gpt2-prefix-space", "gpt2-string-merges", "llama3", "qwen2", "smollm", "custom-split",
  ]

  static let script = #"""
    import json, sys
    from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, normalizers, trainers
    from tokenizers import AddedToken
    corpus, text_path, kind, out = sys.argv[1:5]
    LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    model = models.BPE(ignore_merges=(kind == "llama3"))
    tok = Tokenizer(model)
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if kind.startswith("gpt2"):
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=(kind == "gpt2-prefix-space"))
    elif kind == "llama3":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3), behavior="isolated"), byte_level])
    elif kind == "qwen2":
        tok.normalizer = normalizers.NFC()
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(QWEN2), behavior="isolated"), byte_level])
    elif kind == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False)])
    elif kind == "custom-split":
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(r"[,.;:!?]"), behavior="merged_with_previous"),
            pre_tokenizers.Split(" ", behavior="merged_with_next"),
            pre_tokenizers.Digits(individual_digits=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=3000, show_progress=False,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([corpus], trainer)
    tok.add_tokens([AddedToken("<tool_call>", special=False, normalized=False)])
    tok.save(out + "/tokenizer.json")
    if kind == "gpt2-string-merges":
        data = json.load(open(out + "/tokenizer.json", encoding="utf-8"))
        data["model"]["merges"] = [" ".join(pair) for pair in data["model"]["merges"]]
        json.dump(data, open(out + "/tokenizer.json", "w", encoding="utf-8"), ensure_ascii=False)
        tok = Tokenizer.from_file(out + "/tokenizer.json")
    text = open(text_path, encoding="utf-8", newline="").read()
    ids = tok.encode(text, add_special_tokens=False).ids
    lines = [tok.encode(line, add_special_tokens=False).ids for line in text.split("\n")[:300]]
    json.dump({"ids": ids, "lines": lines, "decoded": tok.decode(ids, skip_special_tokens=False),
               "ignore_merges": json.load(open(out + "/tokenizer.json"))["model"].get("ignore_merges")},
              open(out + "/expected.json", "w", encoding="utf-8"), ensure_ascii=False)
    """#

  @Test(
    "encodes and decodes as tokenizers does", .requires(.python("tokenizers")),
    arguments: kinds)
  func parity(kind: String) throws {
    let python = try PythonRunner.requirePeers(importing: ["tokenizers"])
    let directory = try temporaryDirectory("bpe-\(kind)")
    let text = MixedText.make(minimumBytes: 110_000, seed: 17)
    #expect(text.utf8.count >= 100_000)
    let textPath = try writeFile(text, named: "text.txt", in: directory)
    let corpusPath = try writeFile(
      MixedText.make(minimumBytes: 60_000, seed: 3), named: "corpus.txt", in: directory)
    let scriptPath = try writeFile(Self.script, named: "make.py", in: directory)
    let result = python.run([scriptPath, corpusPath, textPath, kind, directory])
    if case .failure(let failure) = result { Issue.record("python: \(failure.reason)") }
    try #require((try? result.get()) != nil)
    let expectedData = try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json"))
    let expected = try #require(
      try JSONSerialization.jsonObject(with: expectedData) as? [String: Any])
    let expectedIDs = try #require(expected["ids"] as? [Int])
    let tokenizer = try ByteLevelBPETokenizer(contentsOf: directory)
    let ids = try tokenizer.encode(text)
    #expect(ids.count == expectedIDs.count)
    if let first = zip(ids, expectedIDs).enumerated().first(where: { $0.element.0 != $0.element.1 })
    {
      let from = max(0, first.offset - 5)
      Issue.record(
        "\(kind): first difference at token \(first.offset): ours \(ids[from..<min(ids.count, first.offset + 5)].map { tokenizer.piece(for: $0) ?? "?" }), tokenizers' \(expectedIDs[from..<min(expectedIDs.count, first.offset + 5)].map { tokenizer.piece(for: $0) ?? "?" })"
      )
    }
    let lines = try #require(expected["lines"] as? [[Int]])
    let textLines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
    for (line, want) in zip(textLines.map { String($0) }, lines) {
      #expect(try tokenizer.encode(line) == want, "\(kind): line \(line.debugDescription)")
    }
    let decoded = try tokenizer.decode(ids)
    #expect(decoded == expected["decoded"] as? String)
    // Without a prefix space (which decodes as a space), decoding gives the text back.
    if kind != "gpt2-prefix-space" { #expect(decoded == text) }
    // Special tokens in the text are single ids.
    for special in ["<|im_start|>", "<|im_end|>", "<|endoftext|>", "<tool_call>"] {
      let id = try #require(tokenizer.id(for: special))
      #expect(ids.contains(id), "\(special) appears in the text as one id")
    }
    if kind == "llama3" { #expect(expected["ignore_merges"] as? Bool == true) }
    // The same vocabulary as GGUF metadata gives the same ids.
    if let pre = Self.ggufPre[kind] {
      let gguf = try Self.ggufMetadata(json: directory + "/tokenizer.json", pre: pre)
      let fromGGUF = try gguf.makeTokenizer()
      #expect(try fromGGUF.encode(text) == expectedIDs, "\(kind) from GGUF metadata")
      #expect(try fromGGUF.decode(expectedIDs) == text)
    }
  }
}

extension ByteLevelBPEPythonTests {
  /// `tokenizer.ggml.pre` of the kinds llama.cpp knows.
  static let ggufPre = ["gpt2": "gpt2", "llama3": "llama-bpe", "smollm": "smollm"]

  /// The GGUF metadata a converter writes for `tokenizer.json`: tokens by id, merges as
  /// strings, added tokens as control (special) or user-defined tokens.
  static func ggufMetadata(json path: String, pre: String) throws -> GGUFTokenizerMetadata {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let model = try #require(root["model"] as? [String: Any])
    let vocab = try #require(model["vocab"] as? [String: Int])
    let added = try #require(root["added_tokens"] as? [[String: Any]])
    var tokens = [String](repeating: "", count: vocab.count + added.count)
    var types = [Int32](repeating: 1, count: tokens.count)
    for (token, id) in vocab { tokens[id] = token }
    for token in added {
      let id = try #require(token["id"] as? Int)
      tokens[id] = try #require(token["content"] as? String)
      types[id] = (token["special"] as? Bool) == true ? 3 : 4
    }
    let merges = try #require(model["merges"] as? [Any]).map { merge in
      (merge as? String) ?? ((merge as? [String]) ?? []).joined(separator: " ")
    }
    return GGUFTokenizerMetadata(
      model: "gpt2", pre: pre, tokens: tokens, merges: merges, tokenTypes: types,
      bosID: vocab.count, eosID: vocab.count)
  }
}
