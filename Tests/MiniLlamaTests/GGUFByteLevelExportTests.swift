import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import TestSupport
import Testing

/// `export gguf` of model directories whose tokenizer is a byte-level BPE `tokenizer.json`
/// trained by `tokenizers`: the vocabulary metadata is what llama.cpp's converter derives
/// (`_set_vocab_gpt2`: its token list and types, gguf-py's `SpecialVocab` for merges, special
/// ids, add-token flags and chat template), llama.cpp tokenises mixed text as `tokenizers` and
/// as our import of the file do, and generates from the f32 file the greedy tokens of the model
/// directory, and from the q8_0 file those of our own run of it (`Llama.forInference`).
@Suite("GGUF export of byte-level BPE vocabularies")
struct GGUFByteLevelExportTests {
  /// The shapes: Qwen2 (`qwen2` architecture, Qwen2's regex, ChatML), Llama 3 (Llama 3's regex
  /// with `ignore_merges`, BOS from a `TemplateProcessing` post-processor, `eos_token_id` a
  /// list), SmolLM (`Digits` then `ByteLevel`) and GPT-2 (`ByteLevel` alone).
  static let kinds = ["qwen2", "llama-bpe", "smollm", "gpt-2"]

  static let qwenTemplate = GGUFTokenizerTests.qwenTemplate

  /// Trains the tokenizer of `kind` on `corpus` and saves it as `out`.
  static let trainScript = #"""
    import sys
    from tokenizers import Tokenizer, Regex, models, pre_tokenizers, processors, decoders, trainers
    from tokenizers import AddedToken
    corpus, kind, out, specials = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].split(",")
    LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
    QWEN2 = LLAMA3.replace(r"\p{N}{1,3}", r"\p{N}")
    tok = Tokenizer(models.BPE(ignore_merges=(kind == "llama-bpe")))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    if kind == "gpt-2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    elif kind in ("llama-bpe", "qwen2"):
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Split(Regex(LLAMA3 if kind == "llama-bpe" else QWEN2), behavior="isolated"),
            byte_level])
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence([
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, show_progress=False, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([corpus], trainer)
    tok.add_tokens([AddedToken("<tool_call>", special=False, normalized=False)])
    if kind == "llama-bpe":
        bos = specials[0]
        tok.post_processor = processors.Sequence([
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(single=f"{bos} $A", pair=f"{bos} $A {bos} $B",
                                          special_tokens=[(bos, tok.token_to_id(bos))])])
    else:
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
    tok.save(out)
    """#

  /// A model directory of `kind`.
  struct Fixture {
    var path: String
    var config: LlamaConfig
    var specials: [String]
  }

  /// A model directory of `kind` with random weights: `vocab_size` 5 past the tokenizer's ids
  /// (unused `[PAD<id>]` entries in the file).
  static func fixture(_ kind: String, python: PythonRunner) throws -> Fixture {
    let path = try temporaryDirectory("gguf-bpe-\(kind)")
    let corpus = path + "/corpus.txt"
    try MixedText.make(minimumBytes: 50_000, seed: 5).write(
      toFile: corpus, atomically: true, encoding: .utf8)
    let specials =
      kind == "llama-bpe"
      ? [
        "<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>", "<|im_start|>", "<|im_end|>",
        "<|endoftext|>",
      ]
      : ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    let script = path + "/train.py"
    try trainScript.write(toFile: script, atomically: true, encoding: .utf8)
    _ = try python.run([
      script, corpus, kind, path + "/tokenizer.json", specials.joined(separator: ","),
    ])
    .get()
    try FileManager.default.removeItem(atPath: corpus)
    try FileManager.default.removeItem(atPath: script)
    let tokenizer = try ByteLevelBPETokenizer(contentsOf: path + "/tokenizer.json")
    func id(_ token: String) -> Int { tokenizer.id(for: token)! }
    var config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize + 5, hiddenSize: 64, intermediateSize: 128,
      layerCount: 2, headCount: 4, kvHeadCount: 2, maxPositions: 128, rmsNormEps: 1e-6,
      ropeTheta: 1_000_000, tieWordEmbeddings: kind == "qwen2", initializerRange: 0.25)
    var tokenizerConfig: [String: Any] = [
      "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 128,
      "clean_up_tokenization_spaces": false,
    ]
    switch kind {
    case "qwen2":
      config.architecture = .qwen2
      config.bosTokenId = id("<|endoftext|>")
      config.eosTokenIds = [id("<|im_end|>")]
      tokenizerConfig["add_bos_token"] = false
      tokenizerConfig["bos_token"] = NSNull()
      tokenizerConfig["eos_token"] = "<|im_end|>"
      tokenizerConfig["pad_token"] = "<|endoftext|>"
      tokenizerConfig["chat_template"] = qwenTemplate
    case "llama-bpe":
      config.bosTokenId = id("<|begin_of_text|>")
      config.eosTokenIds = [id("<|end_of_text|>"), id("<|eot_id|>")]
      tokenizerConfig["bos_token"] = "<|begin_of_text|>"
      tokenizerConfig["eos_token"] = "<|eot_id|>"
      tokenizerConfig["chat_template"] = GGUFTokenizerImportTests.llama3Template
    default:
      config.bosTokenId = id("<|endoftext|>")
      config.eosTokenIds = [id("<|endoftext|>")]
      tokenizerConfig["add_bos_token"] = false
      tokenizerConfig["bos_token"] = "<|endoftext|>"
      tokenizerConfig["eos_token"] = "<|endoftext|>"
      tokenizerConfig["unk_token"] = "<|endoftext|>"
      tokenizerConfig["chat_template"] = [
        ["name": "default", "template": qwenTemplate],
        ["name": "tool use", "template": GGUFTokenizerImportTests.zephyrTemplate],
      ]
    }
    var weights = Llama(config: config, seed: 11).weights
    var rng = PhiloxRNG(seed: 12)
    for (name, tensor) in weights where name.hasSuffix(".bias") {
      weights[name] = Tensor(
        (0..<tensor.count).map { _ in rng.nextNormal() * 0.5 }, shape: tensor.shape)
    }
    try ModelDirectory(path: path).save(config: config, weights: weights)
    try JSONSerialization.data(withJSONObject: tokenizerConfig, options: [.sortedKeys]).write(
      to: URL(fileURLWithPath: path + "/tokenizer_config.json"))
    return Fixture(path: path, config: config, specials: specials)
  }

  /// gguf-py's reading of our file's `tokenizer.*` keys, and the same keys as the converter
  /// derives them: its token list and types (`get_vocab_base` on `AutoTokenizer`), written
  /// with gguf-py's `GGUFWriter` and `SpecialVocab(load_merges=True)` as `_set_vocab_gpt2`
  /// does, then read back by gguf-py.
  static let metadataScript = #"""
    import json, sys, tempfile, os
    import gguf
    from transformers import AutoTokenizer
    directory, path, pre, arch = sys.argv[1:5]

    def tokenizer_keys(file):
        reader = gguf.GGUFReader(file)
        return {name: field.contents() for name, field in reader.fields.items()
                if name.startswith("tokenizer.")}

    def looks_special(t):
        return (t in ("<pad>", "<mask>", "<2mass>", "[@BOS@]") or (t.startswith("<|") and t.endswith("|>"))
                or (t.startswith("<\uff5c") and t.endswith("\uff5c>")) or (t.startswith("<unused") and t.endswith(">")))

    config = json.load(open(os.path.join(directory, "config.json")))
    tok = AutoTokenizer.from_pretrained(directory)
    size = config.get("vocab_size", len(tok.vocab))
    reverse = {i: t for t, i in tok.vocab.items()}
    added = tok.get_added_vocab()
    decoder = tok.added_tokens_decoder
    tokens, types = [], []
    for i in range(size):
        if i not in reverse:
            tokens.append(f"[PAD{i}]"); types.append(gguf.TokenType.UNUSED)
            continue
        t = reverse[i]
        if t in added:
            if not decoder[i].normalized:
                t = tok.decode(tok.encode(t, add_special_tokens=False))
            if decoder[i].special or looks_special(t):
                types.append(gguf.TokenType.CONTROL)
            else:
                t = t.replace("\u2581", " "); types.append(gguf.TokenType.USER_DEFINED)
        else:
            types.append(gguf.TokenType.NORMAL)
        tokens.append(t)
    out = os.path.join(tempfile.mkdtemp(), "expected.gguf")
    writer = gguf.GGUFWriter(out, arch)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    gguf.SpecialVocab(directory, load_merges=True).add_to_gguf(writer, quiet=True)
    if arch == "llama" and size == 49152:
        writer.add_add_bos_token(False)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.close()
    print(json.dumps({"ours": tokenizer_keys(path), "converter": tokenizer_keys(out)}))
    """#

  @Test(
    "the vocabulary metadata is the converter's",
    .requires(.python("gguf", "transformers", "tokenizers")), arguments: kinds)
  func metadataIsTheConverters(kind: String) throws {
    let python = try PythonRunner.requirePeers(importing: ["gguf", "transformers", "tokenizers"])
    let fixture = try Self.fixture(kind, python: python)
    let out = try temporaryDirectory("gguf-bpe-out-\(kind)") + "/model.gguf"
    try ModelDirectory(path: fixture.path).exportGGUF(
      to: out, options: GGUFExportOptions(type: .f32))
    let reader = try GGUFReader(path: out)
    #expect(reader.value("tokenizer.ggml.model") == .string("gpt2"))
    #expect(reader.value("tokenizer.ggml.pre") == .string(kind))
    let arch = fixture.config.architecture == .qwen2 ? "qwen2" : "llama"
    let output = try python.run(["-c", Self.metadataScript, fixture.path, out, kind, arch]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let ours = try #require(json["ours"] as? [String: Any])
    let converter = try #require(json["converter"] as? [String: Any])
    #expect(Set(ours.keys) == Set(converter.keys), "\(kind): keys")
    func text(_ value: Any?) throws -> String {
      String(
        decoding: try JSONSerialization.data(
          withJSONObject: [value ?? NSNull()], options: [.sortedKeys]),
        as: UTF8.self)
    }
    for (key, value) in converter {
      #expect(try text(ours[key]) == text(value), "\(kind): \(key)")
    }
    // What the converter derives, spelled out for each shape.
    let tokenizer = try ByteLevelBPETokenizer(contentsOf: fixture.path + "/tokenizer.json")
    func id(_ token: String) -> Int { tokenizer.id(for: token)! }
    let metadata = try #require(try reader.tokenizerMetadata())
    #expect(metadata.tokens.count == fixture.config.vocabSize)
    #expect(metadata.tokens.last == "[PAD\(fixture.config.vocabSize - 1)]")
    #expect(metadata.tokenTypes[id("<tool_call>")] == 4)
    #expect(metadata.tokenTypes[id("<|im_start|>")] == 3)
    switch kind {
    case "qwen2":
      #expect(metadata.bosID == id("<|endoftext|>"), "config.json's, the config has none")
      #expect(metadata.eosID == id("<|im_end|>"))
      #expect(metadata.paddingID == id("<|endoftext|>"))
      #expect(reader.value("tokenizer.ggml.add_bos_token") == .bool(false))
      #expect(reader.value("tokenizer.chat_template") == .string(Self.qwenTemplate))
    case "llama-bpe":
      #expect(metadata.bosID == id("<|begin_of_text|>"))
      #expect(metadata.eosID == id("<|eot_id|>"))
      #expect(reader.value("tokenizer.ggml.add_bos_token") == .bool(true), "the template's")
      #expect(reader.value("tokenizer.ggml.add_sep_token") == .bool(false))
    default:
      #expect(metadata.unknownID == id("<|endoftext|>"))
      #expect(reader.value("tokenizer.chat_template") == .string(Self.qwenTemplate))
      #expect(
        reader.value("tokenizer.chat_template.tool_use")
          == .string(GGUFTokenizerImportTests.zephyrTemplate))
    }
  }

  /// llama.cpp's ids (special tokens parsed, BOS as the file says) and `tokenizers`' ids (the
  /// post-processor's specials added) of each line, and llama.cpp's BOS, EOS and BOS flag.
  static let tokeniseScript = #"""
    import json, sys
    import llama_cpp
    from tokenizers import Tokenizer
    path, tokenizer_json, text_path = sys.argv[1:4]
    model = llama_cpp.Llama(model_path=path, vocab_only=True, verbose=False)
    hf = Tokenizer.from_file(tokenizer_json)
    lines = open(text_path, encoding="utf-8", newline="").read().split("\n")
    print(json.dumps({
        "llama_cpp": [model.tokenize(l.encode("utf-8"), add_bos=True, special=True) for l in lines],
        "tokenizers": [hf.encode(l).ids for l in lines],
        "bos": model.token_bos(), "eos": model.token_eos(),
        "add_bos": bool(model._model.add_bos_token())}))
    """#

  @Test(
    "llama.cpp tokenises mixed text as tokenizers and our import do",
    .requires(.python("llama_cpp", "tokenizers")), arguments: kinds)
  func llamaCppTokenisesAsTokenizers(kind: String) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp", "tokenizers"])
    let fixture = try Self.fixture(kind, python: python)
    let out = try temporaryDirectory("gguf-bpe-tok-\(kind)") + "/model.gguf"
    try ModelDirectory(path: fixture.path).exportGGUF(
      to: out, options: GGUFExportOptions(type: .f32))
    let text = MixedText.make(minimumBytes: 40_000, seed: 23)
    let lines = Array(
      text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
        .map { String($0) }.prefix(400))
    #expect(lines.count >= 300)
    let textPath = try temporaryDirectory("gguf-bpe-text-\(kind)") + "/text.txt"
    try lines.joined(separator: "\n").write(toFile: textPath, atomically: true, encoding: .utf8)
    let output = try python.run([
      "-c", Self.tokeniseScript, out, fixture.path + "/tokenizer.json", textPath,
    ]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let cpp = try #require(json["llama_cpp"] as? [[Int]])
    let hf = try #require(json["tokenizers"] as? [[Int]])
    try #require(cpp.count == lines.count && hf.count == lines.count)

    let imported = try ModelDirectory(path: out).loadPretrainedTokenizer()
    let metadata = try #require(try GGUFReader(path: out).tokenizerMetadata())
    #expect(json["bos"] as? Int == metadata.bosID)
    #expect(json["eos"] as? Int == metadata.eosID)
    #expect(json["add_bos"] as? Bool == imported.addsBOS)
    #expect(imported.addsBOS == (kind == "llama-bpe"))
    var differing: [String] = []
    for (index, line) in lines.enumerated() {
      let ours = try imported.encodePrompt(line).map(Int.init)
      if cpp[index] != hf[index] || ours != hf[index] { differing.append(line) }
    }
    #expect(differing.isEmpty, "\(kind): \(differing.count) lines differ: \(differing.prefix(3))")
  }

  @Test(
    "llama.cpp generates our greedy tokens: the directory's from the f32 export, the file's from the q8_0 one",
    .requires(.python("llama_cpp", "tokenizers")), arguments: ["qwen2", "llama-bpe"])
  func llamaCppGeneratesOurGreedyTokens(kind: String) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp", "tokenizers"])
    let fixture = try Self.fixture(kind, python: python)
    let directory = ModelDirectory(path: fixture.path)
    let model = try Llama(directory: fixture.path)
    let tokenizer = try directory.loadPretrainedTokenizer()
    let texts = [
      "hello world, the model learns", "床前明月光，疑是地上霜。",
      "<|im_start|>user\nfunc add(a: Int)<|im_end|>\n",
    ]
    let prompts = try texts.map { try tokenizer.encodePrompt($0) }
    let count = 16
    for type in [GGMLType.f32, .q8_0] {
      let out = try temporaryDirectory("gguf-bpe-greedy-\(kind)") + "/model-\(type.name).gguf"
      try directory.exportGGUF(to: out, options: GGUFExportOptions(type: type))
      let request: [String: Any] = [
        "n_ctx": fixture.config.maxPositions, "count": count,
        "prompts": prompts.map { $0.map(Int.init) }, "texts": texts,
      ]
      let requestText = String(
        decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
      let output = try python.run(["-c", GGUFLlamaCppTests.script, out, requestText]).get()
      let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
      let runs = try #require(json["runs"] as? [[String: Any]])
      let tokenised = try #require(json["texts"] as? [[Int]])
      try #require(runs.count == prompts.count && tokenised.count == texts.count)
      for (index, (prompt, run)) in zip(prompts, runs).enumerated() {
        let bos = tokenizer.addsBOS ? [Int(prompt[0])] : []
        #expect(bos + tokenised[index] == prompt.map(Int.init), "\(kind): llama.cpp's prompt ids")
        let ours: [Int]
        if type == .f32 {
          ours = model.generate(
            prompt: prompt, options: GenerationOptions(maxNewTokens: count, sampling: .greedy)
          ).map(Int.init)
        } else {
          ours = try Self.greedyTokens(of: Llama.forInference(directory: out), prompt, count)
        }
        #expect(ours.count == count)
        let theirs = try #require(run["tokens"] as? [Int])
        #expect(theirs == ours, "\(kind) \(type.name): greedy tokens for \(prompt)")
      }
    }
  }

  /// `count` greedy tokens (the first maximum) of `model` after `prompt`, fed one token at a
  /// time as llama.cpp decodes (so a q8_0 model quantizes the same activation rows).
  static func greedyTokens(of model: Llama, _ prompt: [Int32], _ count: Int) -> [Int] {
    let cache = KVCache(config: model.config)
    var last = prompt.map { model([$0], cache: cache).value.scalars }.last!
    var tokens: [Int] = []
    for _ in 0..<count {
      tokens.append(last.indices.max { last[$0] < last[$1] || (last[$0] == last[$1] && $0 > $1) }!)
      last = model([Int32(tokens[tokens.count - 1])], cache: cache).value.scalars
    }
    return tokens
  }

  /// Rewrites `tokenizer.json` of `path` by `change`.
  static func editTokenizerJSON(_ path: String, _ change: (inout [String: Any]) -> Void) throws {
    let file = URL(fileURLWithPath: path + "/tokenizer.json")
    var root = try #require(
      try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [String: Any])
    change(&root)
    try JSONSerialization.data(withJSONObject: root).write(to: file)
  }

  @Test(
    "a pre-tokenizer llama.cpp does not know is refused naming tokenizer.json and the field",
    .requires(.python("tokenizers")))
  func unknownPreTokenizersAreRefused() throws {
    let python = try PythonRunner.requirePeers(importing: ["tokenizers"])
    let fixture = try Self.fixture("qwen2", python: python)
    let original = try Data(contentsOf: URL(fileURLWithPath: fixture.path + "/tokenizer.json"))
    let splitRegex: (inout [String: Any], String) -> Void = { root, regex in
      var pre = root["pre_tokenizer"] as! [String: Any]
      var steps = pre["pretokenizers"] as! [[String: Any]]
      steps[0]["pattern"] = ["Regex": regex]
      pre["pretokenizers"] = steps
      root["pre_tokenizer"] = pre
    }
    let qwen2 =
      #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    let cases: [(String, (inout [String: Any]) -> Void)] = [
      // Digits in pairs: a regex llama.cpp has no name for.
      (
        "$.pre_tokenizer",
        { splitRegex(&$0, qwen2.replacingOccurrences(of: #"\p{N}|"#, with: #"\p{N}{1,2}|"#)) }
      ),
      // Llama 3's regex without Llama 3's whole-piece lookup.
      (
        "$.model.ignore_merges",
        { splitRegex(&$0, qwen2.replacingOccurrences(of: #"\p{N}|"#, with: #"\p{N}{1,3}|"#)) }
      ),
      ("$.normalizer", { $0["normalizer"] = ["type": "NFKC"] }),
      // A prefix space llama.cpp would not add.
      (
        "$.pre_tokenizer",
        {
          var pre = $0["pre_tokenizer"] as! [String: Any]
          var steps = pre["pretokenizers"] as! [[String: Any]]
          steps[1]["add_prefix_space"] = true
          pre["pretokenizers"] = steps
          $0["pre_tokenizer"] = pre
        }
      ),
    ]
    for (field, change) in cases {
      try original.write(to: URL(fileURLWithPath: fixture.path + "/tokenizer.json"))
      try Self.editTokenizerJSON(fixture.path, change)
      let out = try temporaryDirectory("gguf-bpe-refused") + "/model.gguf"
      do {
        try ModelDirectory(path: fixture.path).exportGGUF(to: out)
        Issue.record("\(field): the export succeeded")
      } catch let error as ModelDirectoryError {
        let message = "\(error)"
        #expect(message.contains(fixture.path + "/tokenizer.json"), "\(message)")
        #expect(message.contains(field), "\(message)")
      }
      #expect(!FileManager.default.fileExists(atPath: out), "\(field): nothing is written")
    }
    // The unchanged file exports.
    try original.write(to: URL(fileURLWithPath: fixture.path + "/tokenizer.json"))
    let out = try temporaryDirectory("gguf-bpe-accepted") + "/model.gguf"
    try ModelDirectory(path: fixture.path).exportGGUF(to: out)
    #expect(try GGUFReader(path: out).value("tokenizer.ggml.pre") == .string("qwen2"))
  }
}
