import MiniTokenize

extension GGUFReader {
  /// The vocabulary stored under `tokenizer.ggml.*`, or `nil` when the file has no
  /// `tokenizer.ggml.model`.
  /// - Throws: `GGUFError` naming the key whose value has the wrong type.
  public func tokenizerMetadata() throws -> GGUFTokenizerMetadata? {
    guard let modelValue = value("tokenizer.ggml.model") else { return nil }
    func fail(_ key: String, _ message: String) -> GGUFError {
      GGUFError(path: path, field: "tokenizer.ggml." + key, message)
    }
    guard let model = modelValue.stringValue else { throw fail("model", "expected a string") }
    func array<T>(_ key: String, _ convert: (GGUFValue) -> T?) throws -> [T] {
      guard let stored = value("tokenizer.ggml." + key) else { return [] }
      guard let elements = stored.arrayValue else { throw fail(key, "expected an array") }
      return try elements.enumerated().map { index, element in
        guard let converted = convert(element) else {
          throw fail(key, "element \(index) has the wrong type (\(element.type))")
        }
        return converted
      }
    }
    func id(_ key: String) throws -> Int? {
      guard let stored = value("tokenizer.ggml." + key) else { return nil }
      guard let id = stored.integerValue, id >= 0 else {
        throw fail(key, "expected a non-negative integer, got \(stored)")
      }
      return id
    }
    var addSpacePrefix = true
    if let stored = value("tokenizer.ggml.add_space_prefix") {
      guard case .bool(let flag) = stored else { throw fail("add_space_prefix", "expected a bool") }
      addSpacePrefix = flag
    }
    let pre = value("tokenizer.ggml.pre")
    if let pre, pre.stringValue == nil { throw fail("pre", "expected a string") }
    return GGUFTokenizerMetadata(
      model: model, pre: pre?.stringValue, tokens: try array("tokens", \.stringValue),
      merges: try array("merges", \.stringValue),
      tokenTypes: try array("token_type") { $0.integerValue.flatMap { Int32(exactly: $0) } },
      scores: try array("scores") { $0.floatingValue.map(Float.init) },
      bosID: try id("bos_token_id"), eosID: try id("eos_token_id"),
      unknownID: try id("unknown_token_id"), paddingID: try id("padding_token_id"),
      addSpacePrefix: addSpacePrefix)
  }

  /// Whether llama.cpp adds BOS when it encodes a prompt for this file:
  /// `tokenizer.ggml.add_bos_token` when present, else true for a `llama` (sentencepiece)
  /// vocabulary and for a `gpt2` one with Llama 3's pre-tokenizer (`llama-bpe`, `llama3`), as
  /// llama.cpp decides, and false for other `gpt2` vocabularies.
  public var addsBOSToken: Bool {
    if case .bool(let flag)? = value("tokenizer.ggml.add_bos_token") { return flag }
    switch value("tokenizer.ggml.model")?.stringValue {
    case "llama": return true
    case "gpt2": return ["llama-bpe", "llama3"].contains(value("tokenizer.ggml.pre")?.stringValue)
    default: return false
    }
  }
}

extension GGUFReader {
  /// The texts of the tokens llama.cpp ends generation at whatever the metadata says (its
  /// vocabulary loader marks them end-of-generation by their text).
  public static let endOfGenerationTexts: Set<String> = [
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<end_of_turn>",
    "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>", "<|end_of_text|>", "<end_of_utterance>",
  ]

  /// The ids at which llama.cpp ends generation with this file, sorted: EOS, the end-of-turn
  /// and end-of-message ids (`tokenizer.ggml.eot_token_id`, `eom_token_id`), the FIM padding,
  /// repository and separator ids, and every token whose text is one of
  /// ``endOfGenerationTexts`` (Qwen2's `<|endoftext|>` beside its `<|im_end|>`, Llama 3's
  /// `<|eot_id|>` and `<|end_of_text|>`).
  /// - Throws: `GGUFError` naming a key whose value has the wrong type.
  public func endOfGenerationTokenIDs() throws -> [Int] {
    guard let metadata = try tokenizerMetadata() else { return [] }
    var ids = Set(metadata.eosID.map { [$0] } ?? [])
    for key in [
      "eot_token_id", "eom_token_id", "fim_pad_token_id", "fim_rep_token_id",
      "fim_sep_token_id",
    ] {
      guard let stored = value("tokenizer.ggml." + key) else { continue }
      guard let id = stored.integerValue, id >= 0 else {
        throw GGUFError(
          path: path, field: "tokenizer.ggml." + key,
          "expected a non-negative integer, got \(stored)")
      }
      ids.insert(id)
    }
    for (id, token) in metadata.tokens.enumerated()
    where Self.endOfGenerationTexts.contains(token) {
      ids.insert(id)
    }
    return ids.filter { $0 < metadata.tokens.count }.sorted()
  }
}

extension GGUFReader {
  /// Whether llama.cpp appends EOS to a prompt: `tokenizer.ggml.add_eos_token`, else false.
  public var addsEOSToken: Bool {
    if case .bool(let flag)? = value("tokenizer.ggml.add_eos_token") { return flag }
    return false
  }

  /// The Hugging Face tokenizer files of the file's vocabulary (`tokenizer.json`, and
  /// `tokenizer.model` for a `llama` vocabulary, with `tokenizer_config.json` carrying the
  /// special tokens, `add_bos_token` as ``addsBOSToken`` and `tokenizer.chat_template`), or
  /// `nil` when the file has no `tokenizer.ggml.model`.
  /// - Parameter modelMaxLength: `model_max_length`, the model's context.
  /// - Throws: `GGUFError` naming a key of the wrong type; `TokenizerError.loadFailed` naming
  ///   the file and the `tokenizer.ggml` key when the vocabulary cannot be used.
  public func pretrainedTokenizerFiles(modelMaxLength: Int) throws -> PretrainedTokenizerFiles? {
    guard let metadata = try tokenizerMetadata() else { return nil }
    var template: String?
    if let stored = value("tokenizer.chat_template") {
      guard let text = stored.stringValue else {
        throw GGUFError(path: path, field: "tokenizer.chat_template", "expected a string")
      }
      template = text
    }
    return try metadata.pretrainedTokenizerFiles(
      addsBOS: addsBOSToken, addsEOS: addsEOSToken, chatTemplate: template,
      modelMaxLength: modelMaxLength, origin: path)
  }
}
