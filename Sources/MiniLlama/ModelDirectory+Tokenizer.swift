import Foundation
import MiniTokenize

extension ModelDirectory {
  /// Writes the tokenizer and chat files next to a saved model, so the directory is all a chat
  /// needs (and what `transformers` reads): the ``writeTokenizerFiles(_:renderer:)`` files
  /// (with the template as a Jinja `chat_template`), and `generation_config.json` with the
  /// stop ids (the template's end-of-turn token, the tokenizer's EOS and `config.json`'s EOS)
  /// and `sampling`. Call it after `Llama.save(to:)`, which rewrites `generation_config.json`.
  /// - Parameters:
  ///   - sampling: the default sampling written to `generation_config.json`.
  ///   - maxNewTokens: the default reply length written there, if any.
  ///   - config: the model's architecture, when the folder has no `config.json` (a LoRA
  ///     adapter folder); read from `config.json` otherwise.
  /// - Throws: `ModelDirectoryError` when `config.json` is missing or its vocabulary is smaller
  ///   than the tokenizer's; `ChatTemplateError` when the template's special tokens are not
  ///   pieces of the tokenizer; write errors naming the file.
  public func installTokenizer(
    _ tokenizer: SentencePieceTokenizer, template: ChatTemplate,
    sampling: SamplingOptions = .seedDefaults, maxNewTokens: Int? = nil,
    config given: LlamaConfig? = nil
  ) throws {
    try installTokenizer(
      StoredTokenizer(sentencePiece: tokenizer), template: template, sampling: sampling,
      maxNewTokens: maxNewTokens, config: given)
  }

  /// Writes the tokenizer and chat files of `tokenizer` (sentencepiece or byte-level BPE, see
  /// `StoredTokenizer.write(toDirectory:renderer:modelMaxLength:)`) next to a saved model, as
  /// ``installTokenizer(_:template:sampling:maxNewTokens:config:)-(SentencePieceTokenizer,_,_,_,_)``
  /// does for a sentencepiece model.
  public func installTokenizer(
    _ tokenizer: StoredTokenizer, template: ChatTemplate,
    sampling: SamplingOptions = .seedDefaults, maxNewTokens: Int? = nil,
    config given: LlamaConfig? = nil
  ) throws {
    let renderer = try ChatRenderer(template: template, tokenizer: tokenizer.tokenizer)
    let config = try writeTokenizerFiles(tokenizer, renderer: renderer, config: given)
    var stops: [Int] = []
    for id in renderer.stopTokenIDs + config.eosTokenIds where !stops.contains(id) {
      stops.append(id)
    }
    let special = tokenizer.tokenizer.specialIDs
    let generation = GenerationConfig(
      sampling: sampling, eosTokenIDs: stops,
      bosTokenID: config.bosTokenId ?? special.bos,
      padTokenID: config.padTokenId ?? special.pad, maxNewTokens: maxNewTokens)
    try generation.write(to: file("generation_config.json"))
  }

  /// Writes the tokenizer files of a directory that holds `config.json` (every model directory
  /// MiniLLM writes goes through here): `tokenizer.model`, `tokenizer.json` mirroring it and
  /// `tokenizer_config.json`, as ``TokenizerFiles`` describes, with `renderer`'s chat template
  /// when given and `model_max_length` from `config.json`.
  /// - Returns: the directory's `config.json`.
  /// - Throws: `ModelDirectoryError` when `config.json` is missing or its vocabulary is smaller
  ///   than the tokenizer's; write errors naming the file.
  @discardableResult
  public func writeTokenizerFiles(
    _ tokenizer: SentencePieceTokenizer, renderer: ChatRenderer?, config given: LlamaConfig? = nil
  ) throws -> LlamaConfig {
    try writeTokenizerFiles(
      StoredTokenizer(sentencePiece: tokenizer), renderer: renderer, config: given)
  }

  /// Writes the tokenizer files of `tokenizer` into a directory that holds `config.json`:
  /// sentencepiece's as above, or a byte-level BPE `tokenizer.json` and its
  /// `tokenizer_config.json` (see `StoredTokenizer.write(toDirectory:renderer:modelMaxLength:)`).
  /// - Returns: the directory's `config.json`.
  /// - Throws: `ModelDirectoryError` when `config.json` is missing or its vocabulary is smaller
  ///   than the tokenizer's; write errors naming the file.
  @discardableResult
  public func writeTokenizerFiles(
    _ tokenizer: StoredTokenizer, renderer: ChatRenderer?, config given: LlamaConfig? = nil
  ) throws -> LlamaConfig {
    let config = try given ?? loadConfig()
    let size = tokenizer.tokenizer.vocabularySize
    guard size <= config.vocabSize else {
      throw ModelDirectoryError(
        path: file("config.json"),
        "vocab_size \(config.vocabSize) is smaller than the tokenizer's \(size) pieces")
    }
    try tokenizer.write(toDirectory: path, renderer: renderer, modelMaxLength: config.maxPositions)
    return config
  }

  /// The tokenizer a training command takes from a base model, with the file it is stored as
  /// (what a trained model directory and a data folder made with it get):
  /// - a directory: `tokenizer.model` (``loadTokenizer()``) when present, else its byte-level
  ///   BPE `tokenizer.json` with `tokenizer_config.json`;
  /// - a GGUF file: its `llama` vocabulary as a sentencepiece model, or its `gpt2` vocabulary
  ///   as the `tokenizer.json` and settings `minillm import gguf` writes for it.
  /// - Throws: `ModelDirectoryError` naming the file at fault, or `tokenizer.model` when the
  ///   directory has neither tokenizer file.
  public func loadStoredTokenizer() throws -> StoredTokenizer {
    if isGGUFFile {
      let reader = try GGUFReader(path: path)
      guard let metadata = try reader.tokenizerMetadata(), metadata.model == "gpt2" else {
        return StoredTokenizer(sentencePiece: try loadTokenizer())
      }
      do {
        let files = try reader.pretrainedTokenizerFiles(
          modelMaxLength: (try? loadConfig().maxPositions) ?? 0)
        let tokenizer = try metadata.makeTokenizer(origin: path)
        return StoredTokenizer(
          byteLevel: PretrainedTokenizer(
            tokenizer: tokenizer, addsBOS: reader.addsBOSToken, addsEOS: reader.addsEOSToken,
            chatTemplate: files?.config.chatTemplate),
          tokenizerJSON: files?.tokenizerJSON ?? [])
      } catch {
        throw ModelDirectoryError(path: path, "\(error)")
      }
    }
    guard !FileManager.default.fileExists(atPath: file("tokenizer.model")),
      FileManager.default.fileExists(atPath: file("tokenizer.json"))
    else {
      return StoredTokenizer(sentencePiece: try loadTokenizer())
    }
    do {
      return try StoredTokenizer.read(path)
    } catch let error as TokenizerError {
      if case .loadFailed(let file, let message) = error {
        throw ModelDirectoryError(path: file, message)
      }
      throw ModelDirectoryError(path: path, "\(error)")
    }
  }

  /// The file a training command compares tokenizers by, for errors: the GGUF file itself,
  /// else `tokenizer.model`, else `tokenizer.json` when only that exists.
  public var tokenizerFilePath: String {
    if isGGUFFile { return path }
    let model = file("tokenizer.model")
    if !FileManager.default.fileExists(atPath: model)
      && FileManager.default.fileExists(atPath: file("tokenizer.json"))
    {
      return file("tokenizer.json")
    }
    return model
  }

  /// Loads `tokenizer.model`.
  ///
  /// For a GGUF file: the sentencepiece model of its `llama` vocabulary (`tokenizer.ggml.*`,
  /// rebuilt as llama.cpp reads it; its bytes are not the original `tokenizer.model`'s, so
  /// compare tokenizers with `SentencePieceTokenizer.hasSameVocabulary(as:)`).
  /// - Throws: `ModelDirectoryError` naming `tokenizer.model` when it is missing or unreadable,
  ///   or the GGUF file when its vocabulary is absent, invalid or not sentencepiece's.
  public func loadTokenizer() throws -> SentencePieceTokenizer {
    if isGGUFFile {
      let reader = try GGUFReader(path: path)
      guard let metadata = try reader.tokenizerMetadata(), metadata.model == "llama" else {
        let kind = reader.value("tokenizer.ggml.model")?.stringValue ?? "none"
        throw ModelDirectoryError(
          path: path,
          "tokenizer.ggml.model is \"\(kind)\", not a sentencepiece (\"llama\") vocabulary, "
            + "which this command needs")
      }
      do {
        return try SentencePieceTokenizer(gguf: metadata, origin: path)
      } catch {
        throw ModelDirectoryError(path: path, "\(error)")
      }
    }
    let modelPath = file("tokenizer.model")
    guard FileManager.default.fileExists(atPath: modelPath) else {
      throw ModelDirectoryError(
        path: modelPath,
        "not found; a chat needs the sentencepiece model the model was trained with")
    }
    do {
      return try SentencePieceTokenizer(contentsOf: modelPath)
    } catch {
      throw ModelDirectoryError(path: modelPath, "\(error)")
    }
  }

  /// Whether `tokenizer_config.json` is a JSON object with a `chat_template` key (of any
  /// value; ``loadChatTemplate()`` tells whether it is one MiniLLM reads).
  public var hasChatTemplate: Bool {
    guard let data = FileManager.default.contents(atPath: file("tokenizer_config.json")),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    else { return false }
    return object["chat_template"] != nil
  }

  /// The tokenizer as `AutoTokenizer` finds it: `tokenizer.model` (sentencepiece) when present,
  /// else `tokenizer.json` (byte-level BPE), with the special tokens, BOS/EOS flags and
  /// `chat_template` of `tokenizer_config.json`.
  /// - Throws: `ModelDirectoryError` naming the file at fault, or the directory when it has
  ///   neither tokenizer file.
  ///
  /// For a GGUF file: the vocabulary of `tokenizer.ggml.*` (`gpt2` byte-level BPE or `llama`
  /// sentencepiece), BOS as llama.cpp adds it, and `tokenizer.chat_template`.
  public func loadPretrainedTokenizer() throws -> PretrainedTokenizer {
    if isGGUFFile {
      let reader = try GGUFReader(path: path)
      guard let metadata = try reader.tokenizerMetadata() else {
        throw ModelDirectoryError(
          path: path, "has no vocabulary (tokenizer.ggml.model); give token ids instead")
      }
      let tokenizer: any Tokenizer
      do {
        tokenizer = try metadata.makeTokenizer(origin: path)
      } catch {
        throw ModelDirectoryError(
          path: path,
          "the vocabulary inside (tokenizer.ggml.model \"\(metadata.model)\") cannot be used: "
            + "\(error); give token ids instead")
      }
      let template = reader.value("tokenizer.chat_template")?.stringValue
      return PretrainedTokenizer(
        tokenizer: tokenizer, addsBOS: reader.addsBOSToken, chatTemplate: template)
    }
    do {
      return try PretrainedTokenizer(directory: path)
    } catch let error as TokenizerError {
      if case .loadFailed(let file, let message) = error {
        throw ModelDirectoryError(path: file, message)
      }
      throw ModelDirectoryError(path: path, "\(error)")
    }
  }

  /// The chat template in `tokenizer_config.json`, as MiniLLM writes it.
  /// - Throws: `ModelDirectoryError` naming `tokenizer_config.json` when it is missing, has no
  ///   `chat_template`, or holds a Jinja template MiniLLM did not write.
  ///
  /// For a GGUF file: `tokenizer.chat_template`, read by rendering it
  /// (``ggufChatTemplate()``).
  public func loadChatTemplate() throws -> ChatTemplate {
    try loadChatTemplateAndDefaultSystemPrompt().template
  }

  /// The system prompt the directory's chat template inserts when a conversation has none
  /// (Qwen2's "You are a helpful assistant."), as `transformers`' `apply_chat_template` and
  /// llama.cpp render it; `nil` when it inserts none or the template cannot be read.
  public func chatTemplateDefaultSystemPrompt() -> String? {
    (try? loadChatTemplateAndDefaultSystemPrompt())?.defaultSystemPrompt ?? nil
  }

  private func loadChatTemplateAndDefaultSystemPrompt() throws -> (
    template: ChatTemplate, defaultSystemPrompt: String?
  ) {
    let hint = "give the template explicitly (chatml, human-robot or a JSON spec)"
    if isGGUFFile { return try ggufChatTemplate() }
    let configPath = file("tokenizer_config.json")
    guard let data = FileManager.default.contents(atPath: configPath) else {
      throw ModelDirectoryError(
        path: configPath, "not found, so there is no chat template; \(hint)")
    }
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
      throw ModelDirectoryError(path: configPath, "not a JSON object")
    }
    guard let jinja = object["chat_template"] as? String else {
      throw ModelDirectoryError(
        path: configPath, "'chat_template' is missing or not a string; \(hint)")
    }
    guard let eos = Self.tokenContent(object["eos_token"]) else {
      throw ModelDirectoryError(
        path: configPath, "'eos_token' is missing: the chat template needs its end-of-turn token")
    }
    var added: [(id: Int, content: String)] = []
    if let decoder = object["added_tokens_decoder"] as? [String: Any] {
      for (key, value) in decoder {
        if let id = Int(key), let content = Self.tokenContent(value) { added.append((id, content)) }
      }
    }
    let specials = added.sorted { $0.id < $1.id }.map(\.content)
    if let template = ChatTemplate(jinja: jinja, eosToken: eos, specialTokens: specials) {
      return (template, nil)
    }
    // Another tool's template (a Hugging Face model's): its layout, found by rendering it, as
    // for a GGUF file's, with the special tokens of tokenizer.json too.
    var probeSpecials = specials
    if let bpe = try? PretrainedTokenizer(directory: path).tokenizer as? ByteLevelBPETokenizer {
      for token in bpe.addedTokens where token.special && !probeSpecials.contains(token.content) {
        probeSpecials.append(token.content)
      }
    }
    guard
      let probed = try? ChatTemplate.probing(
        jinja: jinja, bosToken: Self.tokenContent(object["bos_token"]), eosToken: eos,
        specialTokens: probeSpecials)
    else {
      throw ModelDirectoryError(
        path: configPath,
        "'chat_template' is a Jinja template MiniLLM did not write; \(hint)")
    }
    return probed
  }

  /// The chat template of a GGUF file: `tokenizer.chat_template` rendered on marker messages
  /// (`ChatTemplate.probing`) with the file's BOS, EOS and control tokens, and the system
  /// prompt the template inserts when a conversation has none.
  /// - Throws: `ModelDirectoryError` naming the file when it has no template or one whose
  ///   layout is not a prefix and a suffix per role.
  public func ggufChatTemplate() throws -> (template: ChatTemplate, defaultSystemPrompt: String?) {
    let reader = try GGUFReader(path: path)
    guard let jinja = reader.value("tokenizer.chat_template")?.stringValue else {
      throw ModelDirectoryError(
        path: path,
        "has no tokenizer.chat_template; give the template explicitly (chatml, human-robot or a JSON spec)"
      )
    }
    let pretrained = try loadPretrainedTokenizer()
    let metadata = try reader.tokenizerMetadata()
    var specials: [String] = []
    if let metadata {
      for (id, token) in metadata.tokens.enumerated()
      where !metadata.tokenTypes.isEmpty && [3, 4].contains(metadata.tokenTypes[id]) {
        specials.append(token)
      }
    }
    do {
      return try ChatTemplate.probing(
        jinja: jinja, bosToken: pretrained.bosToken, eosToken: pretrained.eosToken,
        specialTokens: specials)
    } catch {
      throw ModelDirectoryError(path: path, "tokenizer.chat_template: \(error)")
    }
  }

  /// The settings of `generation_config.json`, or `GenerationConfig()` (build_MiniLLM_from_scratch's
  /// sampling) when the directory has none. A GGUF file gives llama.cpp's default sampling
  /// (``SamplingOptions/llamaCppDefaults``) and its special ids, the stop ids being every token
  /// llama.cpp ends generation at (`GGUFReader.endOfGenerationTokenIDs()`).
  /// - Throws: `ModelDirectoryError` naming the file and key for a bad value.
  public func loadGenerationConfig() throws -> GenerationConfig {
    if isGGUFFile {
      let reader = try GGUFReader(path: path)
      let metadata = try reader.tokenizerMetadata()
      // A file from llama.cpp's world samples as llama.cpp does by default (no repetition
      // penalty, so greedy decoding is the plain maximum), and stops where llama.cpp stops:
      // every end-of-generation token of the file.
      return GenerationConfig(
        sampling: .llamaCppDefaults, eosTokenIDs: try reader.endOfGenerationTokenIDs(),
        bosTokenID: metadata?.bosID, padTokenID: metadata?.paddingID)
    }
    let configPath = file("generation_config.json")
    guard FileManager.default.fileExists(atPath: configPath) else { return GenerationConfig() }
    return try GenerationConfig(contentsOf: configPath)
  }

  /// A token in `tokenizer_config.json`: a string, or an object with `content`.
  private static func tokenContent(_ value: Any?) -> String? {
    if let text = value as? String { return text }
    return (value as? [String: Any])?["content"] as? String
  }
}
