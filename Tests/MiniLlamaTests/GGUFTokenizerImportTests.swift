import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import TestSupport
import Testing

/// `minillm import gguf` writes the file's vocabulary as Hugging Face tokenizer files: for GGUF
/// files made here with a `gpt2` vocabulary (each `tokenizer.ggml.pre` kind, trained by
/// `tokenizers` on mixed text) and with `llama` sentencepiece vocabularies (trained by
/// sentencepiece), `AutoTokenizer.from_pretrained(DIR)` gives the ids of our tokenizer read
/// from the GGUF file, and `apply_chat_template` renders the file's template as we do; llama.cpp
/// (`vocab_only`) tokenises the GGUF file as we do.
@Suite("GGUF vocabulary as Hugging Face tokenizer files")
struct GGUFTokenizerImportTests {
  /// The vocabularies: `gpt2` with each `tokenizer.ggml.pre`, and sentencepiece ones.
  static let kinds = [
    "gpt-2", "llama-bpe", "qwen2", "smollm", "starcoder", "spm-chatml", "spm-dummy-prefix",
  ]

  static let qwenTemplate = GGUFTokenizerTests.qwenTemplate
  /// Llama 3's layout, BOS from the tokenizer.
  static let llama3Template =
    "{{ bos_token }}{% for message in messages %}{{ '<|start_header_id|>' + message['role'] "
    + "+ '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}{% endfor %}"
    + "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}"
    + "{% endif %}"
  /// Zephyr's layout, with BOS and EOS from the tokenizer.
  static let zephyrTemplate =
    "{{ bos_token }}{% for message in messages %}{{ '<|' + message['role'] + '|>\\n' + "
    + "message['content'] + eos_token + '\\n' }}{% endfor %}"
    + "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"

  /// Trains a byte-level BPE vocabulary with the pre-tokenizer of `pre` and saves it.
  static let trainScript = #"""
    import sys
    from tokenizers import Tokenizer, Regex, models, pre_tokenizers, decoders, trainers
    from tokenizers import AddedToken
    corpus, pre, out, specials = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
    LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    tok = Tokenizer(models.BPE(ignore_merges=(pre == "llama-bpe")))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if pre == "gpt-2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    elif pre in ("llama-bpe", "qwen2"):
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3 if pre == "llama-bpe" else QWEN2), behavior="isolated"),
            byte_level])
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=2000, show_progress=False, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([corpus], trainer)
    tok.add_tokens([AddedToken("<tool_call>", special=False, normalized=False)])
    tok.save(out)
    """#

  /// What `transformers` makes of the imported directory: ids with special tokens added (BOS
  /// as `add_bos_token` says) for the text and its first 300 lines, the decoded text, and the
  /// chat template rendered on `messages`.
  static let transformersScript = #"""
    import json, sys
    from transformers import AutoTokenizer
    directory, text_path, messages_path = sys.argv[1:4]
    tok = AutoTokenizer.from_pretrained(directory)
    text = open(text_path, encoding="utf-8", newline="").read()
    messages = json.load(open(messages_path, encoding="utf-8"))
    ids = tok(text)["input_ids"]
    lines = [tok(line)["input_ids"] for line in text.split("\n")[:300]]
    chat = tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    plain = tok(text, add_special_tokens=False)["input_ids"]
    print(json.dumps({"ids": ids, "lines": lines, "chat": chat, "class": type(tok).__name__,
                      "decoded": tok.decode(plain, skip_special_tokens=False)}))
    """#

  /// llama.cpp's ids for the GGUF file's vocabulary (special tokens parsed, BOS as the file
  /// says), for the text and its first 300 lines.
  static let llamaCppScript = #"""
    import json, sys
    import llama_cpp
    path, text_path, add_bos = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
    model = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    text = open(text_path, encoding="utf-8", newline="").read()
    tokenize = lambda s: model.tokenize(s.encode("utf-8"), add_bos=add_bos, special=True)
    print(json.dumps({"ids": tokenize(text),
                      "lines": [tokenize(line) for line in text.split("\n")[:300]]}))
    """#

  /// A GGUF file of `kind` and what it was made with.
  struct Fixture {
    var path: String
    var addsBOS: Bool
    var template: String
  }

  /// Writes a 1-layer model with the vocabulary of `kind` as a GGUF file.
  static func fixture(_ kind: String, python: PythonRunner) throws -> Fixture {
    let directory = try temporaryDirectory("gguf-tok-\(kind)")
    let corpus = directory + "/corpus.txt"
    try MixedText.make(minimumBytes: 60_000, seed: 3).write(
      toFile: corpus, atomically: true, encoding: .utf8)
    let metadata: [(String, GGUFValue)]
    let fixture: Fixture
    if kind.hasPrefix("spm-") {
      (metadata, fixture) = try sentencePieceVocabulary(kind, corpus: corpus, in: directory)
    } else {
      (metadata, fixture) = try byteLevelVocabulary(
        kind, corpus: corpus, in: directory, python: python)
    }
    var tokenCount = 0
    for (key, value) in metadata where key == "tokenizer.ggml.tokens" {
      if case .array(_, let elements) = value { tokenCount = elements.count }
    }
    let (hidden, ffn) = (32, 64)
    let config = LlamaConfig(
      vocabSize: tokenCount, hiddenSize: hidden, intermediateSize: ffn, layerCount: 1,
      headCount: 2, kvHeadCount: 2, maxPositions: 256, initializerRange: 0.25)
    let weights = Llama(config: config, seed: 9).weights
    var writer = GGUFWriter()
    writer.set("general.architecture", .string("llama"))
    for (key, value) in [
      ("block_count", 1), ("context_length", 256), ("embedding_length", hidden),
      ("feed_forward_length", ffn), ("attention.head_count", 2), ("attention.head_count_kv", 2),
    ] {
      writer.set("llama.\(key)", .uint32(UInt32(value)))
    }
    writer.set("llama.attention.layer_norm_rms_epsilon", .float32(1e-5))
    writer.set("llama.rope.freq_base", .float32(10_000))
    for (key, value) in metadata { writer.set(key, value) }
    writer.set("tokenizer.ggml.add_bos_token", .bool(fixture.addsBOS))
    writer.set("tokenizer.chat_template", .string(fixture.template))
    var tensors = [
      GGUFTensor(
        name: "token_embd.weight", type: .f32, values: weights["model.embed_tokens.weight"]!)
    ]
    for (gguf, hf) in [
      ("attn_norm.weight", "input_layernorm.weight"), ("attn_q.weight", "self_attn.q_proj.weight"),
      ("attn_k.weight", "self_attn.k_proj.weight"), ("attn_v.weight", "self_attn.v_proj.weight"),
      ("attn_output.weight", "self_attn.o_proj.weight"),
      ("ffn_norm.weight", "post_attention_layernorm.weight"),
      ("ffn_gate.weight", "mlp.gate_proj.weight"), ("ffn_up.weight", "mlp.up_proj.weight"),
      ("ffn_down.weight", "mlp.down_proj.weight"),
    ] {
      tensors.append(
        GGUFTensor(name: "blk.0." + gguf, type: .f32, values: weights["model.layers.0." + hf]!))
    }
    tensors.append(
      GGUFTensor(name: "output_norm.weight", type: .f32, values: weights["model.norm.weight"]!))
    tensors.append(
      GGUFTensor(name: "output.weight", type: .f32, values: weights["lm_head.weight"]!))
    writer.tensors = tensors
    var result = fixture
    result.path = directory + "/model.gguf"
    try writer.write(to: result.path)
    return result
  }

  /// A `gpt2` vocabulary trained by `tokenizers`, as a converter writes it: tokens by id,
  /// merges as strings, added tokens as control (special) or user-defined tokens.
  static func byteLevelVocabulary(
    _ pre: String, corpus: String, in directory: String, python: PythonRunner
  ) throws -> ([(String, GGUFValue)], Fixture) {
    let isLlama3 = pre == "llama-bpe"
    let specials =
      isLlama3
      ? [
        "<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
        "<|eot_id|>", "<|im_start|>", "<|im_end|>", "<|endoftext|>",
      ]
      : ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    let script = directory + "/train.py"
    try trainScript.write(toFile: script, atomically: true, encoding: .utf8)
    let json = directory + "/trained.json"
    _ = try python.run([script, corpus, pre, json, specials.joined(separator: ",")]).get()
    let data = try Data(contentsOf: URL(fileURLWithPath: json))
    let root = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let model = try #require(root["model"] as? [String: Any])
    let vocab = try #require(model["vocab"] as? [String: Int])
    let added = try #require(root["added_tokens"] as? [[String: Any]])
    var size = 0
    for id in vocab.values { size = max(size, id + 1) }
    for token in added { size = max(size, (token["id"] as? Int ?? 0) + 1) }
    var tokens = [String](repeating: "", count: size)
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
    func id(_ token: String) -> UInt32 { UInt32(tokens.firstIndex(of: token)!) }
    let (bos, eos) =
      isLlama3 ? ("<|begin_of_text|>", "<|eot_id|>") : ("<|endoftext|>", "<|im_end|>")
    let metadata: [(String, GGUFValue)] = [
      ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string(pre)),
      ("tokenizer.ggml.tokens", .strings(tokens)), ("tokenizer.ggml.token_type", .int32s(types)),
      ("tokenizer.ggml.merges", .strings(merges)),
      ("tokenizer.ggml.bos_token_id", .uint32(id(bos))),
      ("tokenizer.ggml.eos_token_id", .uint32(id(eos))),
      ("tokenizer.ggml.padding_token_id", .uint32(id("<|endoftext|>"))),
    ]
    return (
      metadata,
      Fixture(path: "", addsBOS: isLlama3, template: isLlama3 ? llama3Template : qwenTemplate)
    )
  }

  /// A `llama` vocabulary from a sentencepiece BPE model (byte fallback), as `export gguf`
  /// writes it: ChatML user-defined pieces without a dummy prefix, or a dummy prefix alone.
  static func sentencePieceVocabulary(
    _ kind: String, corpus: String, in directory: String
  ) throws -> ([(String, GGUFValue)], Fixture) {
    var options = SentencePieceTrainingOptions(vocabularySize: 600)
    options.addDummyPrefix = kind == "spm-dummy-prefix"
    if kind == "spm-chatml" { options.userDefinedSymbols = ["<|im_start|>", "<|im_end|>"] }
    let text = try String(contentsOfFile: corpus, encoding: .utf8)
    var lines = text.split(separator: "\n").map(String.init)[...]
    let tokenizer = try SentencePieceTokenizer.train(options: options) { lines.popFirst() }
    let folder = directory + "/spm"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try tokenizer.write(to: folder + "/tokenizer.model")
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 32, intermediateSize: 64, layerCount: 1,
      headCount: 2, kvHeadCount: 2, maxPositions: 256)
    var vocabulary = try GGUFVocabulary(directory: ModelDirectory(path: folder), config: config)
    vocabulary.chatTemplate = nil
    let metadata = vocabulary.metadata.filter { $0.key != "tokenizer.ggml.add_bos_token" }
    let template = kind == "spm-chatml" ? qwenTemplate : zephyrTemplate
    return (metadata, Fixture(path: "", addsBOS: true, template: template))
  }

  /// The messages rendered by the chat templates.
  static let messages: [[String: String]] = [
    ["role": "system", "content": "你是一个乐于助人的助手。"],
    ["role": "user", "content": "  Hello, world! 12345  "],
    ["role": "assistant", "content": "Hi 🙂 — how can I help?"],
    ["role": "user", "content": "写一个 Swift 函数：func add(_ a: Int) -> Int"],
  ]

  @Test(
    "AutoTokenizer on the imported directory encodes and renders as we do",
    .requires(.python("transformers", "tokenizers")), arguments: kinds)
  func importedDirectory(kind: String) throws {
    let python = try PythonRunner.requirePeers(importing: ["transformers", "tokenizers"])
    let fixture = try Self.fixture(kind, python: python)
    let out = try temporaryDirectory("gguf-tok-import-\(kind)") + "/model"
    // What `minillm import gguf` does.
    let model = try Llama(directory: fixture.path)
    let files = try #require(
      try GGUFReader(path: fixture.path).pretrainedTokenizerFiles(
        modelMaxLength: model.config.maxPositions))
    try model.save(to: out)
    try files.write(toDirectory: out)
    let names = try FileManager.default.contentsOfDirectory(atPath: out)
    #expect(names.contains("tokenizer.json"))
    #expect(names.contains("tokenizer_config.json"))
    #expect(names.contains("tokenizer.model") == kind.hasPrefix("spm-"))

    let ours = try ModelDirectory(path: fixture.path).loadPretrainedTokenizer()
    #expect(ours.addsBOS == fixture.addsBOS)
    let reread = try ModelDirectory(path: out).loadPretrainedTokenizer()
    #expect(reread.addsBOS == fixture.addsBOS)
    #expect(reread.chatTemplate == fixture.template)
    #expect(reread.bosToken == ours.bosToken && reread.eosToken == ours.eosToken)

    let text = MixedText.make(minimumBytes: 110_000, seed: 17)
    let folder = try temporaryDirectory("gguf-tok-check-\(kind)")
    let textPath = folder + "/text.txt"
    try text.write(toFile: textPath, atomically: true, encoding: .utf8)
    let messagesPath = folder + "/messages.json"
    try JSONSerialization.data(withJSONObject: Self.messages).write(
      to: URL(fileURLWithPath: messagesPath))
    let script = folder + "/check.py"
    try Self.transformersScript.write(toFile: script, atomically: true, encoding: .utf8)
    let output = try python.run([script, out, textPath, messagesPath]).get()
    let theirs = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    #expect(theirs["class"] as? String != "LlamaTokenizer", "tokenizer.json is what loads")

    let ids = try ours.encodePrompt(text).map(Int.init)
    #expect(
      try reread.encodePrompt(text).map(Int.init) == ids, "the imported directory, read by us")
    let hfIDs = try #require(theirs["ids"] as? [Int])
    #expect(ids.count == hfIDs.count)
    if let first = zip(ids, hfIDs).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
      let range = max(0, first.offset - 4)..<min(ids.count, hfIDs.count, first.offset + 4)
      Issue.record(
        "\(kind): first difference at token \(first.offset): ours \(ids[range].map { ours.tokenizer.piece(for: $0) ?? "?" }), transformers' \(hfIDs[range].map { ours.tokenizer.piece(for: $0) ?? "?" })"
      )
    }
    let lines = try #require(theirs["lines"] as? [[Int]])
    var differing: [String] = []
    let textLines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
    for (line, want) in zip(textLines.map { String($0) }, lines) {
      if try ours.encodePrompt(line).map(Int.init) != want { differing.append(line) }
    }
    #expect(differing.isEmpty, "\(kind): \(differing.count) lines differ: \(differing.prefix(3))")
    let decoded = try ours.tokenizer.decode(try ours.tokenizer.encode(text).map { Int($0) })
    #expect(theirs["decoded"] as? String == decoded, "\(kind): decoding")

    let rendered = try JinjaTemplate(fixture.template).renderChat(
      messages: Self.messages.map { .message(role: $0["role"]!, content: $0["content"]!) },
      addGenerationPrompt: true,
      specialTokens: ["bos_token": ours.bosToken ?? "", "eos_token": ours.eosToken ?? ""])
    #expect(theirs["chat"] as? String == rendered)
  }

  @Test(
    "llama.cpp tokenises the GGUF file as we do",
    .requires(.python("llama_cpp", "tokenizers")), arguments: kinds)
  func llamaCppParity(kind: String) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp", "tokenizers"])
    let fixture = try Self.fixture(kind, python: python)
    let ours = try ModelDirectory(path: fixture.path).loadPretrainedTokenizer()
    let text = MixedText.make(minimumBytes: 110_000, seed: 17)
    let folder = try temporaryDirectory("gguf-tok-llamacpp-\(kind)")
    let textPath = folder + "/text.txt"
    try text.write(toFile: textPath, atomically: true, encoding: .utf8)
    let script = folder + "/llama_cpp_ids.py"
    try Self.llamaCppScript.write(toFile: script, atomically: true, encoding: .utf8)
    let output = try python.run([script, fixture.path, textPath, fixture.addsBOS ? "1" : "0"])
      .get()
    let theirs = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let ids = try ours.encodePrompt(text).map(Int.init)
    let cppIDs = try #require(theirs["ids"] as? [Int])
    #expect(ids.count == cppIDs.count)
    if let first = zip(ids, cppIDs).enumerated().first(where: { $0.element.0 != $0.element.1 }) {
      let range = max(0, first.offset - 4)..<min(ids.count, cppIDs.count, first.offset + 4)
      Issue.record(
        "\(kind): first difference at token \(first.offset): ours \(ids[range].map { ours.tokenizer.piece(for: $0) ?? "?" }), llama.cpp's \(cppIDs[range].map { ours.tokenizer.piece(for: $0) ?? "?" })"
      )
    }
    let lines = try #require(theirs["lines"] as? [[Int]])
    var differing: [String] = []
    let textLines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
    for (line, want) in zip(textLines.map { String($0) }, lines) {
      if try ours.encodePrompt(line).map(Int.init) != want { differing.append(line) }
    }
    #expect(differing.isEmpty, "\(kind): \(differing.count) lines differ: \(differing.prefix(3))")
  }
}
