import Foundation
import MiniSupport

/// The tokenizer files of a Hugging Face model directory made from another source (a GGUF
/// file's vocabulary): `tokenizer.model` when there is a sentencepiece model, `tokenizer.json`
/// when the tokenizer can be written for `tokenizers`, and `tokenizer_config.json`.
public struct PretrainedTokenizerFiles: Sendable {
  /// `tokenizer.model`: the sentencepiece model, or `nil` (a byte-level BPE vocabulary).
  public var tokenizerModel: [UInt8]?
  /// `tokenizer.json`, or `nil` when the tokenizer cannot be mirrored for `tokenizers`.
  public var tokenizerJSON: [UInt8]?
  /// `tokenizer_config.json`.
  public var config: TokenizerConfig

  /// Creates the set.
  public init(tokenizerModel: [UInt8]?, tokenizerJSON: [UInt8]?, config: TokenizerConfig) {
    self.tokenizerModel = tokenizerModel
    self.tokenizerJSON = tokenizerJSON
    self.config = config
  }

  /// The names of the files ``write(toDirectory:)`` writes.
  public var fileNames: [String] {
    (tokenizerModel == nil ? [] : ["tokenizer.model"])
      + (tokenizerJSON == nil ? [] : ["tokenizer.json"]) + ["tokenizer_config.json"]
  }

  /// Writes the files into `directory`, each atomically; a stale `tokenizer.model` or
  /// `tokenizer.json` that is not part of the set is removed, so `AutoTokenizer` cannot pick it.
  /// - Throws: write errors naming the file.
  public func write(toDirectory directory: String) throws {
    let folder = directory as NSString
    for (name, bytes) in [("tokenizer.model", tokenizerModel), ("tokenizer.json", tokenizerJSON)] {
      let path = folder.appendingPathComponent(name)
      if let bytes {
        try writeFileAtomically(bytes, to: path)
      } else if FileManager.default.fileExists(atPath: path) {
        try FileManager.default.removeItem(atPath: path)
      }
    }
    try config.write(toDirectory: directory)
  }
}

extension GGUFTokenizerMetadata {
  /// The Hugging Face tokenizer files of this vocabulary, so that
  /// `AutoTokenizer.from_pretrained(DIR)` encodes as ``makeTokenizer(origin:)`` does and
  /// `apply_chat_template` renders `chatTemplate`:
  /// - `gpt2`: `tokenizer.json` with the `BPE` model (vocabulary, merges, `ignore_merges` for
  ///   `llama-bpe`), the pre-tokenizer of `tokenizer.ggml.pre` as `Split`/`Digits`/`ByteLevel`
  ///   steps, control tokens as special added tokens and user-defined ones as plain added
  ///   tokens (both matched on the raw text), the `ByteLevel` decoder, and BOS/EOS in a
  ///   `TemplateProcessing` post-processor when `addsBOS`/`addsEOS`.
  /// - `llama`: the sentencepiece model built from the pieces, scores and types as
  ///   `tokenizer.model` (exactly the model our tokenizer encodes with) and its
  ///   `tokenizer.json` mirror when it has one
  ///   (``SentencePieceTokenizer/tokenizerJSON(addsBOS:addsEOS:)``).
  /// - `tokenizer_config.json`: `bos_token`, `eos_token`, `unk_token`, `pad_token`,
  ///   `add_bos_token`, `add_eos_token`, `chat_template`, and every control and user-defined
  ///   token in `added_tokens_decoder`.
  /// - Parameters:
  ///   - addsBOS: whether a prompt starts with BOS (`tokenizer.ggml.add_bos_token`).
  ///   - addsEOS: whether a prompt ends with EOS (`tokenizer.ggml.add_eos_token`).
  ///   - chatTemplate: `tokenizer.chat_template`.
  ///   - modelMaxLength: the model's context.
  ///   - origin: names the file in errors.
  /// - Throws: `TokenizerError.loadFailed` naming `origin` and the key at fault.
  public func pretrainedTokenizerFiles(
    addsBOS: Bool, addsEOS: Bool, chatTemplate: String?, modelMaxLength: Int,
    origin: String = "<gguf>"
  ) throws -> PretrainedTokenizerFiles {
    switch model {
    case "gpt2":
      let tokenizer = try ByteLevelBPETokenizer(gguf: self, origin: origin)
      let added = tokenizer.addedTokens
      var config = TokenizerConfig(
        tokenizer: tokenizer, modelMaxLength: modelMaxLength, addedTokenIDs: added.map(\.id))
      for token in added where !token.special {
        config.addedTokensDecoder[String(token.id)]?.special = false
      }
      config.tokenizerClass = "PreTrainedTokenizerFast"
      config.addBOSToken = addsBOS
      config.addEOSToken = addsEOS
      config.chatTemplate = chatTemplate
      let json = try byteLevelTokenizerJSON(
        tokenizer: tokenizer, addsBOS: addsBOS, addsEOS: addsEOS, origin: origin)
      return PretrainedTokenizerFiles(tokenizerModel: nil, tokenizerJSON: json, config: config)
    case "llama":
      let tokenizer = try SentencePieceTokenizer(gguf: self, origin: origin)
      var config = TokenizerConfig(tokenizer: tokenizer, modelMaxLength: modelMaxLength)
      config.addBOSToken = addsBOS
      config.addEOSToken = addsEOS
      config.chatTemplate = chatTemplate
      let files = TokenizerFiles(tokenizer: tokenizer, config: config)
      return PretrainedTokenizerFiles(
        tokenizerModel: tokenizer.modelBytes, tokenizerJSON: files.tokenizerJSON,
        config: files.config)
    default:
      throw TokenizerError.loadFailed(
        path: origin, message: "tokenizer.ggml.model '\(model)' is not supported (gpt2, llama are)")
    }
  }

  /// `tokenizer.json` of a `gpt2` vocabulary (see ``pretrainedTokenizerFiles(addsBOS:addsEOS:chatTemplate:modelMaxLength:origin:)``).
  func byteLevelTokenizerJSON(
    tokenizer: ByteLevelBPETokenizer, addsBOS: Bool, addsEOS: Bool, origin: String
  ) throws -> [UInt8] {
    let pre = self.pre ?? "gpt2"
    guard let (steps, ignoreMerges) = ByteLevelBPETokenizer.ggufPreTokenizer(pre),
      let preTokenizer = Self.preTokenizerJSON(steps)
    else {
      throw failure(origin, "pre", "'\(pre)' cannot be written as a tokenizer.json pre-tokenizer")
    }
    var json = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n"
    json += "  \"added_tokens\": ["
    for (index, token) in tokenizer.addedTokens.enumerated() {
      json += index == 0 ? "\n" : ",\n"
      json += "    {\"id\": \(token.id), \"content\": \(jsonStringLiteral(token.content)), "
      json += "\"single_word\": false, \"lstrip\": false, \"rstrip\": false, "
      json += "\"normalized\": false, \"special\": \(token.special)}"
    }
    json += "\n  ],\n  \"normalizer\": null,\n"
    json += "  \"pre_tokenizer\": \(preTokenizer),\n"
    json += "  \"post_processor\": \(postProcessorJSON(addsBOS: addsBOS, addsEOS: addsEOS)),\n"
    json += "  \"decoder\": {\"type\": \"ByteLevel\", \"add_prefix_space\": true, "
    json += "\"trim_offsets\": true, \"use_regex\": true},\n"
    json += "  \"model\": {\"type\": \"BPE\", \"dropout\": null, \"unk_token\": null, "
    json += "\"continuing_subword_prefix\": null, \"end_of_word_suffix\": null, "
    json += "\"fuse_unk\": false, \"byte_fallback\": false, \"ignore_merges\": \(ignoreMerges),\n"
    json += "    \"vocab\": {"
    var seen = Set<String>()
    var first = true
    for (id, token) in tokens.enumerated() {
      // Every token, added ones too: `tokenizers` gives an added token missing from the
      // vocabulary a new id after it. A repeated token keeps its first id.
      guard seen.insert(token).inserted else { continue }
      json += first ? "\n" : ",\n"
      first = false
      json += "      \(jsonStringLiteral(token)): \(id)"
    }
    json += "\n    },\n    \"merges\": ["
    for (index, line) in merges.enumerated() {
      // Checked by the tokenizer's construction: two tokens separated by one space.
      let parts = line.split(separator: " ", omittingEmptySubsequences: false)
      json += index == 0 ? "\n" : ",\n"
      json +=
        "      [\(jsonStringLiteral(String(parts[0]))), \(jsonStringLiteral(String(parts[1])))]"
    }
    json += "\n    ]\n  }\n}\n"
    return Array(json.utf8)
  }

  /// The `pre_tokenizer` member for `steps`, or `nil` for a step with no known JSON form.
  static func preTokenizerJSON(_ steps: [PreTokenizerStep]) -> String? {
    var parts: [String] = []
    for step in steps {
      switch step {
      case .byteLevel(let addPrefixSpace, let useRegex):
        parts.append(
          "{\"type\": \"ByteLevel\", \"add_prefix_space\": \(addPrefixSpace), "
            + "\"trim_offsets\": true, \"use_regex\": \(useRegex)}")
      case .digits(let individual):
        parts.append("{\"type\": \"Digits\", \"individual_digits\": \(individual)}")
      case .split(let pattern, let behavior, let invert):
        let source: String
        switch pattern {
        case .gpt2: source = SplitPattern.gpt2Source
        case .llama3(maxDigits: 3): source = SplitPattern.llama3Source
        case .llama3(maxDigits: 1): source = SplitPattern.qwen2Source
        default: return nil
        }
        parts.append(
          "{\"type\": \"Split\", \"pattern\": {\"Regex\": \(jsonStringLiteral(source))}, "
            + "\"behavior\": \"\(behavior.rawValue)\", \"invert\": \(invert)}")
      }
    }
    if parts.count == 1 { return parts[0] }
    return "{\"type\": \"Sequence\", \"pretokenizers\": [\(parts.joined(separator: ", "))]}"
  }

  /// A `TemplateProcessing` adding BOS and EOS as the flags say, or `null` when neither.
  func postProcessorJSON(addsBOS: Bool, addsEOS: Bool) -> String {
    var single: [String] = []
    var specials: [Int] = []
    func special(_ id: Int) -> String {
      if !specials.contains(id) { specials.append(id) }
      return "{\"SpecialToken\": {\"id\": \(jsonStringLiteral(tokens[id])), \"type_id\": 0}}"
    }
    if addsBOS, let bosID { single.append(special(bosID)) }
    single.append(#"{"Sequence": {"id": "A", "type_id": 0}}"#)
    if addsEOS, let eosID { single.append(special(eosID)) }
    guard !specials.isEmpty else { return "null" }
    let pair = single + [#"{"Sequence": {"id": "B", "type_id": 1}}"#]
    let table = specials.map { id in
      let name = jsonStringLiteral(tokens[id])
      return "\(name): {\"id\": \(name), \"ids\": [\(id)], \"tokens\": [\(name)]}"
    }
    return "{\"type\": \"TemplateProcessing\", \"single\": [\(single.joined(separator: ", "))], "
      + "\"pair\": [\(pair.joined(separator: ", "))], "
      + "\"special_tokens\": {\(table.joined(separator: ", "))}}"
  }
}
