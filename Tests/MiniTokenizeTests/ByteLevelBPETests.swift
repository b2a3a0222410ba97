import Foundation
import MiniTokenize
import TestSupport
import Testing

/// Byte-level BPE without a Python peer: a hand-made `tokenizer.json`, model directories,
/// bad files, and sentencepiece vocabularies rebuilt from GGUF metadata.
@Suite("ByteLevelBPETokenizer")
struct ByteLevelBPETests {
  /// A small `tokenizer.json`: the 256 byte characters, a few merges (in `mergeForm`), ChatML
  /// tokens, the Llama 3 split.
  static func tokenizerJSON(pairMerges: Bool = true) -> [String: Any] {
    var vocab: [String: Int] = [:]
    var scalars: [Unicode.Scalar] = []
    var next: UInt32 = 256
    for byte in 0..<256 {
      let printable =
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte)
        || (0xAE...0xFF).contains(byte)
      let scalar = printable ? Unicode.Scalar(UInt32(byte))! : Unicode.Scalar(next)!
      if !printable { next += 1 }
      scalars.append(scalar)
      vocab[String(scalar)] = byte
    }
    let merges = [("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("l", "l"), ("e", "ll"), ("h", "ell")]
    for (left, right) in merges where vocab[left + right] == nil {
      vocab[left + right] = vocab.count
    }
    vocab["Ġhello"] = vocab.count
    let size = vocab.count
    return [
      "version": "1.0",
      "added_tokens": [
        [
          "id": size, "content": "<|im_start|>", "special": true, "single_word": false,
          "lstrip": false, "rstrip": false, "normalized": false,
        ],
        ["id": size + 1, "content": "<|im_end|>", "special": true],
      ],
      "normalizer": NSNull(),
      "pre_tokenizer": [
        "type": "Sequence",
        "pretokenizers": [
          [
            "type": "Split",
            "pattern": [
              "Regex":
                #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
            ],
            "behavior": "Isolated", "invert": false,
          ],
          [
            "type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true,
            "use_regex": false,
          ],
        ],
      ],
      "post_processor": NSNull(),
      "decoder": ["type": "ByteLevel"],
      "model": [
        "type": "BPE", "dropout": NSNull(), "unk_token": NSNull(), "ignore_merges": true,
        "vocab": vocab,
        "merges": merges.map { pairMerges ? [$0.0, $0.1] as Any : "\($0.0) \($0.1)" as Any },
      ],
    ]
  }

  static func write(_ object: [String: Any], to path: String) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    try data.write(to: URL(fileURLWithPath: path))
  }

  @Test("merges by rank, keeps added tokens whole, decodes back", arguments: [true, false])
  func handMade(pairMerges: Bool) throws {
    let directory = try temporaryDirectory("bpe-hand-\(pairMerges)")
    try Self.write(Self.tokenizerJSON(pairMerges: pairMerges), to: directory + "/tokenizer.json")
    let tokenizer = try ByteLevelBPETokenizer(contentsOf: directory)
    let text = "<|im_start|>the hello\n\n 1234 你好<|im_end|>"
    let ids = try tokenizer.encode(text)
    let pieces = ids.map { tokenizer.piece(for: $0)! }
    // "the": (h, e) is the only merge; " hello": whole in the vocabulary (ignore_merges);
    // "\n\n" then " " before the digits; digits by three.
    #expect(Array(pieces.prefix(4)) == ["<|im_start|>", "t", "he", "Ġhello"])
    #expect(Array(pieces[4..<11]) == ["Ċ", "Ċ", "Ġ", "1", "2", "3", "4"])
    #expect(pieces.count == 11 + 1 + 6 + 1 && pieces.last == "<|im_end|>")
    #expect(try tokenizer.decode(ids) == text)
    #expect(try tokenizer.decode(ids, skippingSpecial: true) == "the hello\n\n 1234 你好")
    #expect(throws: TokenizerError.self) { try tokenizer.decode([tokenizer.vocabularySize]) }
  }

  @Test("a model directory with tokenizer.json and tokenizer_config.json")
  func pretrainedDirectory() throws {
    let directory = try temporaryDirectory("bpe-directory")
    try Self.write(Self.tokenizerJSON(), to: directory + "/tokenizer.json")
    try Self.write(
      [
        "bos_token": "<|im_start|>", "eos_token": ["content": "<|im_end|>", "special": true],
        "add_bos_token": true, "chat_template": "{{ messages }}",
      ], to: directory + "/tokenizer_config.json")
    let loaded = try PretrainedTokenizer(directory: directory)
    #expect(loaded.tokenizer is ByteLevelBPETokenizer)
    #expect(loaded.tokenizer.specialIDs.bos == loaded.tokenizer.id(for: "<|im_start|>"))
    #expect(loaded.tokenizer.specialIDs.eos == loaded.tokenizer.id(for: "<|im_end|>"))
    #expect(loaded.addsBOS && loaded.chatTemplate == "{{ messages }}")
  }

  /// A bad `tokenizer_config.json` beside a good `tokenizer.json` gives one error naming the
  /// config file and the field.
  @Test(
    "bad tokenizer_config.json files name the file and the field",
    arguments: [
      ("bos_token", "$.bos_token"), ("add_bos_token", "$.add_bos_token"),
      ("chat_template", "$.chat_template"), ("eos_token", "$.eos_token"),
      ("not-an-object", "not a JSON object"),
    ])
  func badConfigs(key: String, field: String) throws {
    let directory = try temporaryDirectory("bpe-bad-config-\(key)")
    try Self.write(Self.tokenizerJSON(), to: directory + "/tokenizer.json")
    let configPath = directory + "/tokenizer_config.json"
    switch key {
    case "not-an-object": try Data("[1, 2".utf8).write(to: URL(fileURLWithPath: configPath))
    case "eos_token": try Self.write(["eos_token": "<|not a token|>"], to: configPath)
    case "chat_template": try Self.write(["chat_template": 5], to: configPath)
    default: try Self.write([key: 7], to: configPath)
    }
    #expect {
      try PretrainedTokenizer(directory: directory)
    } throws: { error in
      "\(error)".contains("tokenizer_config.json") && "\(error)".contains(field)
    }
  }

  /// Each bad file gives one error naming the file and the field.
  @Test(
    "bad tokenizer.json files name the file and the field",
    arguments: [
      ("truncated", "not a valid JSON object"), ("vocab-type", "$.model.vocab"),
      ("huge-id", "$.model.vocab"), ("merge-unknown", "$.model.merges[0]"),
      ("merge-form", "$.model.merges[1]"), ("decoder", "$.decoder.type"),
      ("pre-tokenizer", "$.pre_tokenizer.type"), ("added-id", "$.added_tokens[0].id"),
      ("no-model", "$.model"), ("merges-type", "$.model.merges"),
      ("merge-pair-type", "$.model.merges[0][1]"), ("added-content", "$.added_tokens[0].content"),
      ("added-huge-id", "$.added_tokens[0].id"), ("ignore-merges", "$.model.ignore_merges"),
      ("normalizer", "$.normalizer"), ("split-regex", "$.pre_tokenizer.pattern.Regex"),
      ("empty", "not a valid JSON object"), ("array", "not a valid JSON object"),
    ])
  func badFiles(kind: String, field: String) throws {
    let directory = try temporaryDirectory("bpe-bad-\(kind)")
    let path = directory + "/tokenizer.json"
    var object = Self.tokenizerJSON()
    var model = object["model"] as! [String: Any]
    switch kind {
    case "truncated":
      let data = try JSONSerialization.data(withJSONObject: object)
      try data.prefix(data.count / 2).write(to: URL(fileURLWithPath: path))
    case "empty", "array":
      try Data((kind == "empty" ? "" : "[1, 2]").utf8).write(to: URL(fileURLWithPath: path))
    case "no-model":
      object["model"] = nil
      try Self.write(object, to: path)
    default:
      switch kind {
      case "merges-type": model["merges"] = 5
      case "merge-pair-type": model["merges"] = [["h", 7]]
      case "added-content": object["added_tokens"] = [["id": 900, "content": 12]]
      case "added-huge-id": object["added_tokens"] = [["id": 1 << 50, "content": "x"]]
      case "ignore-merges": model["ignore_merges"] = "yes"
      case "normalizer": object["normalizer"] = ["type": "Lowercase"]
      case "split-regex":
        object["pre_tokenizer"] = [
          "type": "Split", "pattern": ["Regex": "(unclosed"], "behavior": "Isolated",
          "invert": false,
        ]
      case "vocab-type": model["vocab"] = ["a": "one"]
      case "huge-id": model["vocab"] = ["a": 1 << 40]
      case "merge-unknown": model["merges"] = [["zzz", "q"]]
      case "merge-form": model["merges"] = ["h e", "h e l"]
      case "decoder": object["decoder"] = ["type": "Metaspace"]
      case "pre-tokenizer": object["pre_tokenizer"] = ["type": "Whitespace"]
      default: object["added_tokens"] = [["id": -3, "content": "x"]]
      }
      object["model"] = model
      try Self.write(object, to: path)
    }
    do {
      _ = try ByteLevelBPETokenizer(contentsOf: path)
      Issue.record("\(kind): loaded")
    } catch let error as TokenizerError {
      let message = "\(error)"
      #expect(message.hasPrefix(path), "\(message)")
      #expect(message.contains(field), "\(message)")
    }
  }

  @Test(
    "a sentencepiece vocabulary from GGUF metadata encodes as the model", arguments: [false, true])
  func sentencePieceFromGGUF(addDummyPrefix: Bool) throws {
    let original = try trainTinyModel(addDummyPrefix: addDummyPrefix)
    let proto = try #require(SentencePieceModelProto(bytes: original.modelBytes))
    let metadata = GGUFTokenizerMetadata(
      model: "llama", tokens: proto.pieces.map { String(decoding: $0.text, as: UTF8.self) },
      tokenTypes: proto.pieces.map { Int32($0.type.rawValue) }, scores: proto.pieces.map(\.score),
      bosID: original.specialIDs.bos, eosID: original.specialIDs.eos,
      unknownID: original.specialIDs.unknown, addSpacePrefix: proto.addDummyPrefix)
    let rebuilt = try metadata.makeTokenizer()
    #expect(rebuilt.specialIDs == original.specialIDs)
    #expect(rebuilt.vocabularySize == original.vocabularySize)
    for line in MixedText.make(minimumBytes: 20_000, seed: 5).components(separatedBy: "\n") {
      #expect(try rebuilt.encode(line) == original.encode(line), "\(line.debugDescription)")
    }
  }

  @Test("bad GGUF metadata names the key")
  func badGGUF() throws {
    let cases: [(GGUFTokenizerMetadata, String)] = [
      (GGUFTokenizerMetadata(model: "gpt2", pre: "bogus", tokens: ["a"]), "tokenizer.ggml.pre"),
      (GGUFTokenizerMetadata(model: "gpt2", tokens: ["a"], merges: ["a"]), "tokenizer.ggml.merges"),
      (GGUFTokenizerMetadata(model: "gpt2", tokens: ["a"], tokenTypes: [1, 1]), "token_type"),
      (GGUFTokenizerMetadata(model: "gpt2", tokens: ["a"], eosID: 7), "eos_token_id"),
      (GGUFTokenizerMetadata(model: "llama", tokens: ["a"], scores: []), "tokenizer.ggml.scores"),
      (GGUFTokenizerMetadata(model: "bert", tokens: ["a"]), "tokenizer.ggml.model"),
    ]
    for (metadata, key) in cases {
      do {
        _ = try metadata.makeTokenizer(origin: "x.gguf")
        Issue.record("\(key): accepted")
      } catch {
        #expect("\(error)".contains(key) && "\(error)".hasPrefix("x.gguf"), "\(error)")
      }
    }
  }
}
