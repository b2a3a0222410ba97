import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// The data and training commands on a model whose vocabulary is byte-level BPE (a Qwen2
/// directory with `tokenizer.json`, and its GGUF file with a `gpt2` vocabulary), as
/// Docs/LoRA.md and Docs/RL.md describe: `data sft --tokenizer` records the `tokenizer.json`,
/// `sft --lora-rank` trains on it, the adapter folder carries the tokenizer files `generate`
/// and `AutoTokenizer` read, `grpo` trains the GGUF file, and data made with another
/// vocabulary is refused by name.
@Suite(.serialized, .requires(.built("minillm"))) struct ByteLevelTrainingCommandTests {
  /// Qwen2's chat template (with its default system prompt).
  static let qwenTemplate =
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    + "{{ '<|im_start|>system\\nYou are a helpful assistant.<|im_end|>\\n' }}{% endif %}"
    + "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    + "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"

  /// Qwen2's pre-tokenizer regex (digits one by one).
  static let qwenRegex =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

  /// A Qwen2-style `tokenizer.json`: the 256 byte characters, `merges` in rank order, and
  /// `<|endoftext|>`, `<|im_start|>`, `<|im_end|>` as special added tokens.
  static func tokenizerJSON(merges: [(String, String)]) -> [String: Any] {
    var vocab: [String: Int] = [:]
    var next: UInt32 = 256
    for byte in 0..<256 {
      let printable =
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte)
        || (0xAE...0xFF).contains(byte)
      let scalar = printable ? Unicode.Scalar(UInt32(byte))! : Unicode.Scalar(next)!
      if !printable { next += 1 }
      vocab[String(scalar)] = byte
    }
    for (left, right) in merges where vocab[left + right] == nil {
      vocab[left + right] = vocab.count
    }
    let size = vocab.count
    let added = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"].enumerated().map { n, content in
      [
        "id": size + n, "content": content, "special": true, "single_word": false,
        "lstrip": false, "rstrip": false, "normalized": false,
      ] as [String: Any]
    }
    return [
      "version": "1.0", "truncation": NSNull(), "padding": NSNull(), "added_tokens": added,
      "normalizer": ["type": "NFC"],
      "pre_tokenizer": [
        "type": "Sequence",
        "pretokenizers": [
          [
            "type": "Split", "pattern": ["Regex": qwenRegex], "behavior": "Isolated",
            "invert": false,
          ],
          [
            "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false,
            "use_regex": false,
          ],
        ],
      ],
      "post_processor": NSNull(),
      "decoder": ["type": "ByteLevel", "add_prefix_space": false, "trim_offsets": false],
      "model": [
        "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(),
        "continuing_subword_prefix": NSNull(), "end_of_word_suffix": NSNull(),
        "fuse_unk": false, "byte_fallback": false, "ignore_merges": false, "vocab": vocab,
        "merges": merges.map { [$0.0, $0.1] },
      ],
    ]
  }

  static let merges = [
    ("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r"), ("o", "n"),
    ("Ġ", "s"), ("r", "e"), ("a", "t"), ("Ġ", "K"), ("Ġ", "I"), ("e", "s"), ("o", "u"),
  ]

  /// A Qwen2 model directory with random weights and the tokenizer of `merges`.
  static func qwenModel(_ path: String, merges: [(String, String)] = merges) throws {
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    let json = try JSONSerialization.data(
      withJSONObject: tokenizerJSON(merges: merges), options: [.sortedKeys])
    try json.write(to: URL(fileURLWithPath: path + "/tokenizer.json"))
    let tokenizerConfig: [String: Any] = [
      "tokenizer_class": "Qwen2Tokenizer", "model_max_length": 128, "add_bos_token": false,
      "bos_token": NSNull(), "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
      "chat_template": qwenTemplate, "clean_up_tokenization_spaces": false,
    ]
    try JSONSerialization.data(withJSONObject: tokenizerConfig, options: [.sortedKeys]).write(
      to: URL(fileURLWithPath: path + "/tokenizer_config.json"))
    let tokenizer = try ByteLevelBPETokenizer(contentsOf: path + "/tokenizer.json")
    var config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize + 5, hiddenSize: 64, intermediateSize: 128,
      layerCount: 2, headCount: 4, kvHeadCount: 2, maxPositions: 128, rmsNormEps: 1e-6,
      ropeTheta: 1_000_000, tieWordEmbeddings: true, initializerRange: 0.1)
    config.architecture = .qwen2
    config.bosTokenId = tokenizer.id(for: "<|endoftext|>")
    config.eosTokenIds = [tokenizer.id(for: "<|im_end|>")!]
    try ModelDirectory(path: path).save(
      config: config, weights: Llama(config: config, seed: 3).weights)
  }

  /// Alpaca records: short English questions and answers.
  static func writeSFTCorpus(_ path: String) throws {
    let pairs = [
      ("Who are you?", "I am Kestrel, the assistant."),
      ("What is your name?", "My name is Kestrel."),
      ("Who made you?", "Tern Lab made me."),
      ("Tell me about the sea.", "The sea is wide and the sea is deep."),
    ]
    var lines = ""
    for round in 0..<4 {
      for (question, answer) in pairs {
        let record: [String: Any] = [
          "instruction": round == 0 ? question : question + " (\(round))", "input": "",
          "output": answer,
        ]
        let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        lines += String(decoding: data, as: UTF8.self) + "\n"
      }
    }
    try lines.write(toFile: path, atomically: true, encoding: .utf8)
  }

  /// The values of `key` in a run's `metrics.jsonl`, step by step.
  static func losses(_ run: String, key: String = "loss") throws -> [Double] {
    try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
      .split(separator: "\n").compactMap { line -> Double? in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return object?[key] as? Double
      }
  }

  static func indexTokenizer(_ folder: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: folder + "/index.json"))
    let index = try JSONSerialization.jsonObject(with: data) as? [String: Any]
    return index?["tokenizer"] as? [String: Any] ?? [:]
  }

  @Test func loraSFTOnAQwen2DirectoryWithItsTokenizerJSON() throws {
    let executable = try requireBuiltExecutable(named: "minillm")
    let work = try temporaryDirectory("bpe-sft")
    try Self.qwenModel(work + "/qwen")
    try Self.writeSFTCorpus(work + "/sft.jsonl")
    func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
      try runMinillmCapturing(executable, arguments, directory: work)
    }

    // The data folder records the model's tokenizer.json, byte for byte.
    var result = try run([
      "data", "sft", "--tokenizer", "qwen", "--input", "sft.jsonl", "--output", "data",
      "--max-length", "96",
    ])
    #expect(result.status == 0, "\(result.error)")
    let reference = try Self.indexTokenizer(work + "/data")
    #expect(reference["file"] as? String == "tokenizer.json")
    let modelJSON = try Data(contentsOf: URL(fileURLWithPath: work + "/qwen/tokenizer.json"))
    #expect(try Data(contentsOf: URL(fileURLWithPath: work + "/data/tokenizer.json")) == modelJSON)
    #expect(!FileManager.default.fileExists(atPath: work + "/data/tokenizer.model"))
    // The template is Qwen2's, read by rendering it: ChatML's layout.
    #expect(
      try ModelDirectory(path: work + "/data").loadChatTemplate().layoutDifference(from: .chatml)
        == nil)

    // LoRA SFT on the directory: the loss falls.
    result = try run([
      "sft", "--model", "qwen", "--data", "data", "--out", "run", "--steps", "16",
      "--batch-size", "4", "--lr", "1e-2", "--warmup-steps", "0", "--threads", "1",
      "--lora-rank", "8",
    ])
    #expect(result.status == 0, "\(result.error)")
    let losses = try Self.losses(work + "/run")
    #expect(losses.count == 16)
    let (first, last) = (losses.prefix(3).reduce(0, +) / 3, losses.suffix(3).reduce(0, +) / 3)
    #expect(last < first, "loss \(losses)")
    print("sft --lora-rank 8 on a byte-level BPE Qwen2 directory: loss \(losses)")

    // The adapter folder carries the base's tokenizer.json and a tokenizer_config.json.
    let adapter = work + "/run/adapter"
    #expect(try Data(contentsOf: URL(fileURLWithPath: adapter + "/tokenizer.json")) == modelJSON)
    #expect(!FileManager.default.fileExists(atPath: adapter + "/tokenizer.model"))
    let loaded = try PretrainedTokenizer(directory: adapter)
    let base = try PretrainedTokenizer(directory: work + "/qwen")
    #expect(loaded.tokenizer.sharesVocabulary(with: base.tokenizer))
    #expect(loaded.eosToken == "<|im_end|>")

    // generate runs the base with the adapter, as a chat and on a plain prompt.
    for arguments in [
      ["--chat", "--prompt", "Who are you?"], ["--prompt", "The sea is", "--format", "text"],
    ] {
      result = try run(
        [
          "generate", "--model", "qwen", "--adapter", "run/adapter", "--greedy",
          "--max-new-tokens", "6", "--threads", "1",
        ] + arguments)
      #expect(result.status == 0, "\(result.error)")
    }

    // Full SFT: RUN/model is a chat model directory with the tokenizer.json.
    result = try run([
      "sft", "--model", "qwen", "--data", "data", "--out", "full", "--steps", "2",
      "--batch-size", "4", "--lr", "1e-3", "--threads", "1",
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(
      try Data(contentsOf: URL(fileURLWithPath: work + "/full/model/tokenizer.json")) == modelJSON)
    #expect(!FileManager.default.fileExists(atPath: work + "/full/model/tokenizer.model"))
    result = try run([
      "generate", "--model", "full/model", "--chat", "--prompt", "Who are you?", "--greedy",
      "--max-new-tokens", "4", "--threads", "1",
    ])
    #expect(result.status == 0, "\(result.error)")

    // Data made with another vocabulary (one merge fewer) is refused, naming the flag and files.
    try Self.qwenModel(work + "/other", merges: Array(Self.merges.dropLast()))
    result = try run([
      "data", "sft", "--tokenizer", "other/tokenizer.json", "--input", "sft.jsonl", "--output",
      "other-data", "--max-length", "96",
    ])
    #expect(result.status == 0, "\(result.error)")
    result = try run([
      "sft", "--model", "qwen", "--data", "other-data", "--out", "refused", "--steps", "1",
      "--threads", "1", "--lora-rank", "8",
    ])
    #expect(result.status != 0)
    #expect(result.error.contains("--data"), "\(result.error)")
    #expect(result.error.contains("other-data/index.json"), "\(result.error)")
    #expect(result.error.contains("qwen/tokenizer.json"), "\(result.error)")
  }

  @Test func grpoAndSFTTrainAGPT2GGUFFile() throws {
    let executable = try requireBuiltExecutable(named: "minillm")
    let work = try temporaryDirectory("bpe-gguf")
    try Self.qwenModel(work + "/qwen")
    try Self.writeSFTCorpus(work + "/sft.jsonl")
    func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
      try runMinillmCapturing(executable, arguments, directory: work)
    }
    var result = try run(["export", "gguf", "--model", "qwen", "--out", "qwen.gguf"])
    #expect(result.status == 0, "\(result.error)")
    #expect(
      try GGUFReader(path: work + "/qwen.gguf").value("tokenizer.ggml.model") == .string("gpt2"))

    // The GGUF file's vocabulary as --tokenizer: a tokenizer.json written as `import gguf`
    // writes it, with the same tokens and merges as the directory's.
    result = try run([
      "data", "sft", "--tokenizer", "qwen.gguf", "--input", "sft.jsonl", "--output", "data",
      "--max-length", "96",
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(try Self.indexTokenizer(work + "/data")["file"] as? String == "tokenizer.json")
    let rebuilt = try PretrainedTokenizer(directory: work + "/data")
    let original = try PretrainedTokenizer(directory: work + "/qwen")
    #expect(rebuilt.tokenizer.sharesVocabulary(with: original.tokenizer))
    let text = "<|im_start|>user\nWho are you, 42?<|im_end|>"
    #expect(try rebuilt.tokenizer.encode(text) == original.tokenizer.encode(text))

    // SFT with adapters on the GGUF file with that data, and on the directory (the data's
    // rebuilt tokenizer.json has the directory's vocabulary).
    for model in ["qwen.gguf", "qwen"] {
      result = try run([
        "sft", "--model", model, "--data", "data", "--out", "sft-" + model, "--steps", "2",
        "--batch-size", "4", "--lr", "1e-2", "--threads", "1", "--lora-rank", "8",
      ])
      #expect(result.status == 0, "\(result.error)")
    }

    // GRPO for two steps on the GGUF file with its own vocabulary and template.
    try "{\"prompt\": \"Who are you?\"}\n{\"prompt\": \"Tell me about the sea.\"}\n".write(
      toFile: work + "/prompts.jsonl", atomically: true, encoding: .utf8)
    result = try run([
      "grpo", "--model", "qwen.gguf", "--data", "prompts.jsonl", "--reward", "regex:(?s).*e.*",
      "--group-size", "2", "--batch-size", "4", "--micro-batch-size", "2",
      "--max-new-tokens", "6", "--steps", "2", "--lr", "1e-3", "--threads", "1", "--out", "grpo",
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(try Self.losses(work + "/grpo", key: "reward_mean").count == 2)
    // The trained policy is a model directory with the vocabulary as tokenizer.json.
    let trained = ModelDirectory(path: work + "/grpo/model")
    #expect(FileManager.default.fileExists(atPath: trained.file("tokenizer.json")))
    #expect(!FileManager.default.fileExists(atPath: trained.file("tokenizer.model")))
    let policy = try trained.loadPretrainedTokenizer()
    #expect(policy.tokenizer.sharesVocabulary(with: original.tokenizer))
    #expect(try trained.loadChatTemplate().layoutDifference(from: .chatml) == nil)
    result = try run([
      "generate", "--model", "grpo/model", "--chat", "--prompt", "Who are you?", "--greedy",
      "--max-new-tokens", "4", "--threads", "1",
    ])
    #expect(result.status == 0, "\(result.error)")

    // PPO for one step on the GGUF file, with a reward model that has the directory's
    // tokenizer.json (the same tokens and merges as the file's rebuilt vocabulary); one with
    // another vocabulary is refused naming --reward-model.
    try RewardModel(languageModelDirectory: work + "/qwen", seed: 1).save(to: work + "/rm")
    for name in ["tokenizer.json", "tokenizer_config.json"] {
      try FileManager.default.copyItem(atPath: work + "/qwen/" + name, toPath: work + "/rm/" + name)
    }
    let ppo = [
      "ppo", "--model", "qwen.gguf", "--data", "prompts.jsonl", "--batch-size", "2",
      "--micro-batch-size", "2", "--ppo-epochs", "1", "--max-new-tokens", "4", "--steps", "1",
      "--lr", "1e-3", "--threads", "1",
    ]
    result = try run(ppo + ["--reward-model", "rm", "--out", "ppo"])
    #expect(result.status == 0, "\(result.error)")
    #expect(FileManager.default.fileExists(atPath: work + "/ppo/model/tokenizer.json"))
    // Data made with another vocabulary is refused for the GGUF file, naming it.
    try Self.qwenModel(work + "/other", merges: Array(Self.merges.dropLast()))
    result = try run([
      "data", "sft", "--tokenizer", "other", "--input", "sft.jsonl", "--output", "other-data",
      "--max-length", "96",
    ])
    #expect(result.status == 0, "\(result.error)")
    result = try run([
      "sft", "--model", "qwen.gguf", "--data", "other-data", "--out", "refused", "--steps", "1",
      "--threads", "1", "--lora-rank", "8",
    ])
    #expect(result.status != 0)
    #expect(
      result.error.contains("--data") && result.error.contains("qwen.gguf"), "\(result.error)")
    try RewardModel(languageModelDirectory: work + "/qwen", seed: 1).save(to: work + "/other-rm")
    for name in ["tokenizer.json", "tokenizer_config.json"] {
      try FileManager.default.copyItem(
        atPath: work + "/other/" + name, toPath: work + "/other-rm/" + name)
    }
    result = try run(ppo + ["--reward-model", "other-rm", "--out", "ppo-refused"])
    #expect(result.status != 0)
    #expect(
      result.error.contains("--reward-model") && result.error.contains("other-rm/tokenizer.json"),
      "\(result.error)")
  }

  @Test func pretrainDPOAndRewardTakeAByteLevelBase() throws {
    let executable = try requireBuiltExecutable(named: "minillm")
    let work = try temporaryDirectory("bpe-pretrain")
    try Self.qwenModel(work + "/qwen")
    func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
      try runMinillmCapturing(executable, arguments, directory: work)
    }
    var text = ""
    for n in 0..<60 { text += "The sea is wide and the sea is deep, number \(n).\n" }
    try text.write(toFile: work + "/corpus.txt", atomically: true, encoding: .utf8)
    var result = try run([
      "data", "pretrain", "--tokenizer", "qwen/tokenizer.json", "--input", "corpus.txt",
      "--output", "shards",
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(try Self.indexTokenizer(work + "/shards")["file"] as? String == "tokenizer.json")
    result = try run([
      "pretrain", "--model", "qwen", "--data", "shards", "--out", "pre", "--steps", "2",
      "--seq-len", "32", "--threads", "1", "--lora-rank", "4",
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(FileManager.default.fileExists(atPath: work + "/pre/adapter/tokenizer.json"))
    // Shards of another vocabulary are refused for the base, naming the flag and files.
    try Self.qwenModel(work + "/other", merges: Array(Self.merges.dropLast()))
    result = try run([
      "data", "pretrain", "--tokenizer", "other", "--input", "corpus.txt", "--output",
      "other-shards",
    ])
    #expect(result.status == 0, "\(result.error)")
    result = try run([
      "pretrain", "--model", "qwen", "--data", "other-shards", "--out", "refused", "--steps", "1",
      "--seq-len", "32", "--threads", "1", "--lora-rank", "4",
    ])
    #expect(result.status != 0)
    #expect(
      result.error.contains("--data") && result.error.contains("other-shards/index.json")
        && result.error.contains("qwen/tokenizer.json"), "\(result.error)")

    // Preference pairs and DPO with adapters on the directory.
    var pairs = ""
    for n in 0..<8 {
      let record: [String: Any] = [
        "prompt": "Who are you? (\(n))", "chosen": "I am Kestrel.", "rejected": "No idea.",
      ]
      let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
      pairs += String(decoding: data, as: UTF8.self) + "\n"
    }
    try pairs.write(toFile: work + "/pairs.jsonl", atomically: true, encoding: .utf8)
    result = try run([
      "data", "dpo", "--tokenizer", "qwen", "--input", "pairs.jsonl", "--output", "prefs",
      "--max-length", "96",
    ])
    #expect(result.status == 0, "\(result.error)")
    result = try run([
      "dpo", "--model", "qwen", "--data", "prefs", "--out", "dpo", "--steps", "2",
      "--batch-size", "4", "--threads", "1", "--lora-rank", "4",
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(FileManager.default.fileExists(atPath: work + "/dpo/adapter/tokenizer.json"))
    result = try run([
      "reward", "--model", "qwen", "--data", "prefs", "--out", "rm", "--steps", "2",
      "--batch-size", "4", "--threads", "1", "--lora-rank", "4",
    ])
    #expect(result.status == 0, "\(result.error)")
    #expect(FileManager.default.fileExists(atPath: work + "/rm/adapter/tokenizer.json"))
  }

  /// `AutoTokenizer.from_pretrained` on the adapter folder of a LoRA SFT run on a Qwen2
  /// directory gives our ids, and its `apply_chat_template` renders our prompt.
  @Test(.requires(.python("transformers")))
  func transformersReadsTheTrainedTokenizerFiles() throws {
    let executable = try requireBuiltExecutable(named: "minillm")
    let python = try PythonRunner.requirePeers(importing: ["transformers"])
    let work = try temporaryDirectory("bpe-transformers")
    try Self.qwenModel(work + "/qwen")
    try Self.writeSFTCorpus(work + "/sft.jsonl")
    for arguments in [
      [
        "data", "sft", "--tokenizer", "qwen", "--input", "sft.jsonl", "--output", "data",
        "--max-length", "96",
      ],
      [
        "sft", "--model", "qwen", "--data", "data", "--out", "run", "--steps", "1",
        "--batch-size", "4", "--threads", "1", "--lora-rank", "8",
      ],
    ] {
      let result = try runMinillmCapturing(executable, arguments, directory: work)
      #expect(result.status == 0, "\(result.error)")
    }
    let script = work + "/read.py"
    try """
    import json, sys
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(sys.argv[1])
    text = sys.argv[2]
    chat = tok.apply_chat_template(
        [{"role": "user", "content": "Who are you?"}], tokenize=False, add_generation_prompt=True)
    print(json.dumps({"ids": tok(text, add_special_tokens=False)["input_ids"], "chat": chat,
                      "eos": tok.eos_token}))
    """.write(toFile: script, atomically: true, encoding: .utf8)
    let text = "<|im_start|>user\nThe sea is wide, 1234 the end.<|im_end|>\n"
    let output = try python.run([script, work + "/run/adapter", text]).get()
    let object = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let ours = try PretrainedTokenizer(directory: work + "/qwen").tokenizer
    #expect(object["ids"] as? [Int] == (try ours.encode(text)))
    #expect(object["eos"] as? String == "<|im_end|>")
    let renderer = try ChatRenderer(
      template: ModelDirectory(path: work + "/run/adapter").loadChatTemplate(), tokenizer: ours)
    #expect(
      object["chat"] as? String
        == (try renderer.text(
          of: Conversation(messages: [Message(role: .user, content: "Who are you?")]),
          addGenerationPrompt: true)))
  }

  /// A sentencepiece GGUF file as `--tokenizer`: the data gets the model rebuilt from its
  /// `llama` vocabulary (other bytes, the same pieces and scores), which both the GGUF file and
  /// the directory it was exported from accept as their tokenizer.
  @Test(.requires(SFTFixture.requirement))
  func aSentencePieceGGUFVocabularyMakesDataForItsDirectoryToo() throws {
    guard let fixture = SFTFixture.load() else { return }
    let work = try temporaryDirectory("spm-gguf-data")
    func run(_ arguments: [String]) throws -> (status: Int32, output: String, error: String) {
      try runMinillmCapturing(fixture.executable, arguments, directory: work)
    }
    var result = try run(["export", "gguf", "--model", fixture.base, "--out", "base.gguf"])
    #expect(result.status == 0, "\(result.error)")
    let identity = try #require(sharedPath("corpora/identity.json"))
    result = try run([
      "data", "sft", "--tokenizer", "base.gguf", "--input", identity, "--template", "chatml",
      "--output", "data",
    ])
    #expect(result.status == 0, "\(result.error)")
    let rebuilt = try Data(contentsOf: URL(fileURLWithPath: work + "/data/tokenizer.model"))
    let original = try Data(contentsOf: URL(fileURLWithPath: fixture.base + "/tokenizer.model"))
    #expect(rebuilt != original)
    for model in ["base.gguf", fixture.base] {
      result = try run([
        "sft", "--model", model, "--data", "data", "--out", "run-\(model.count)", "--steps", "1",
        "--batch-size", "4", "--threads", "1", "--lora-rank", "4",
      ])
      #expect(result.status == 0, "\(result.error)")
    }
  }
}
