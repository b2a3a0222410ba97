import Foundation
import MiniSupport
import MiniTokenize

/// llama.cpp's token types (`llama_token_type`), the same numbers as sentencepiece's piece types.
public enum GGUFTokenType: Int32, Sendable, CaseIterable {
  case normal = 1
  case unknown = 2
  case control = 3
  case userDefined = 4
  case unused = 5
  case byte = 6
}

/// The tokenizer metadata of a GGUF file (`tokenizer.ggml.*`, `tokenizer.chat_template`), read
/// from a model directory's `tokenizer.model` (sentencepiece, `tokenizer.ggml.model` "llama") or,
/// without one, its byte-level BPE `tokenizer.json` ("gpt2"), with `tokenizer_config.json`.
///
/// It follows llama.cpp's `convert_hf_to_gguf.py`. For sentencepiece models: one entry per id up
/// to the config's `vocab_size` (ids past the tokenizer's pieces become `[PAD<id>]`, score
/// -10000, unused), piece types from the model proto (so user-defined pieces such as
/// `<|im_start|>` stay user-defined), entries of `added_tokens_decoder` marked `special` become
/// control tokens, and added tokens beyond the model's pieces fill their `[PAD<id>]` slot. For
/// byte-level BPE models, see `init(byteLevelDirectory:config:)`.
public struct GGUFVocabulary: Sendable, Equatable {
  /// `tokenizer.ggml.model`: "llama" (sentencepiece) or "gpt2" (byte-level BPE).
  public var model = "llama"
  /// `tokenizer.ggml.pre`: "default" for sentencepiece, the pre-tokenizer's name for "gpt2".
  public var pre = "default"
  /// The piece of each id.
  public var tokens: [String]
  /// The score of each id (sentencepiece only; empty for "gpt2").
  public var scores: [Float]
  /// The type of each id.
  public var types: [GGUFTokenType]
  /// The merges, `"a b"`, by rank ("gpt2" only).
  public var merges: [String] = []
  /// Beginning-of-sequence id.
  public var bos: Int?
  /// End-of-sequence id.
  public var eos: Int?
  /// The tokenizer's unknown-piece id.
  public var unknown: Int?
  /// Separator id (`tokenizer.ggml.seperator_token_id`, as llama.cpp spells it).
  public var separator: Int?
  /// Padding id.
  public var padding: Int?
  /// Mask id.
  public var mask: Int?
  /// End-of-turn id (a template's trailing token that is not the EOS).
  public var endOfTurn: Int?
  /// End-of-message id.
  public var endOfMessage: Int?
  /// Whether llama.cpp prepends BOS when it tokenizes a prompt; `nil` writes no key (llama.cpp
  /// then decides by the vocabulary).
  public var addBOS: Bool?
  /// Whether llama.cpp appends EOS when it tokenizes a prompt; `nil` writes no key.
  public var addEOS: Bool?
  /// Whether llama.cpp adds the separator; `nil` writes no key.
  public var addSeparator: Bool?
  /// Whether the tokenizer prepends `▁` to a text (sentencepiece's `add_dummy_prefix`); `nil`
  /// writes no key.
  public var addSpacePrefix: Bool?
  /// The Jinja chat template (`tokenizer_config.json`'s `chat_template`).
  public var chatTemplate: String?
  /// Further named chat templates, when `chat_template` is a list of `{name, template}`.
  public var namedChatTemplates: [String: String] = [:]

  /// Reads the tokenizer of `directory` for a model configured by `config`: `tokenizer.model`
  /// when present, else a byte-level BPE `tokenizer.json`.
  /// - Throws: `ModelDirectoryError` naming `tokenizer.model` (missing with no `tokenizer.json`,
  ///   unreadable, more pieces than `vocab_size`), or the file and field at fault in
  ///   `tokenizer.json`, `tokenizer_config.json` or `config.json`.
  public init(directory: ModelDirectory, config: LlamaConfig) throws {
    let modelPath = directory.file("tokenizer.model")
    if !FileManager.default.fileExists(atPath: modelPath)
      && FileManager.default.fileExists(atPath: directory.file("tokenizer.json"))
    {
      try self.init(byteLevelDirectory: directory, config: config)
      return
    }
    guard FileManager.default.fileExists(atPath: modelPath) else {
      throw ModelDirectoryError(
        path: modelPath,
        "not found: GGUF export needs the sentencepiece tokenizer.model or a byte-level BPE "
          + "tokenizer.json in the model directory")
    }
    try self.init(sentencePiece: modelPath, directory: directory, config: config)
  }

  /// Reads the sentencepiece model at `modelPath` and `directory`'s `tokenizer_config.json`.
  private init(sentencePiece modelPath: String, directory: ModelDirectory, config: LlamaConfig)
    throws
  {
    let tokenizer: SentencePieceTokenizer
    do {
      tokenizer = try SentencePieceTokenizer(contentsOf: modelPath)
    } catch {
      throw ModelDirectoryError(path: modelPath, "\(error)")
    }
    guard let proto = SentencePieceModelProto(bytes: tokenizer.modelBytes),
      proto.pieces.count == tokenizer.vocabularySize
    else {
      throw ModelDirectoryError(path: modelPath, "cannot read the pieces of the model proto")
    }
    let pieceCount = proto.pieces.count
    guard pieceCount <= config.vocabSize else {
      throw ModelDirectoryError(
        path: modelPath,
        "has \(pieceCount) pieces but config.json's vocab_size is \(config.vocabSize)")
    }
    tokens = (0..<config.vocabSize).map { "[PAD\($0)]" }
    scores = Array(repeating: -10_000, count: config.vocabSize)
    types = Array(repeating: .unused, count: config.vocabSize)
    for (id, piece) in proto.pieces.enumerated() {
      guard let text = String(validating: piece.text, as: UTF8.self) else {
        throw ModelDirectoryError(path: modelPath, "piece \(id) is not valid UTF-8")
      }
      tokens[id] = text
      scores[id] = piece.score
      types[id] = GGUFTokenType(rawValue: Int32(piece.type.rawValue)) ?? .normal
    }
    let special = tokenizer.specialIDs
    bos = config.bosTokenId ?? special.bos
    eos = config.eosTokenIds.first ?? special.eos
    unknown = special.unknown
    padding = config.padTokenId ?? special.pad
    addBOS = bos != nil
    addEOS = false
    addSpacePrefix = proto.addDummyPrefix
    chatTemplate = nil

    let configPath = directory.file("tokenizer_config.json")
    if FileManager.default.fileExists(atPath: configPath) {
      try applyTokenizerConfig(at: configPath)
    }
  }

  /// Reads `add_bos_token`, `add_eos_token`, `chat_template` and `added_tokens_decoder`.
  private mutating func applyTokenizerConfig(at path: String) throws {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ModelDirectoryError(path: path, "cannot read")
    }
    let object: [String: JSONValue]
    do {
      object = try data.withUnsafeBytes { try JSONParser.parseObject($0, keeping: nil) }
    } catch {
      throw ModelDirectoryError(path: path, "not a JSON object: \(error)")
    }
    func flag(_ key: String) throws -> Bool? {
      switch object[key] {
      case nil, .null: return nil
      case .bool(let value): return value
      case let other?:
        throw ModelDirectoryError(
          path: path, "field '\(key)' must be true or false, not \(other.kindName)")
      }
    }
    if let value = try flag("add_bos_token") { addBOS = value }
    if let value = try flag("add_eos_token") { addEOS = value }
    switch object["chat_template"] {
    case nil, .null: break
    case .string(let text): chatTemplate = text
    case .array(let list):
      for (index, item) in list.enumerated() {
        guard let name = item["name"]?.string, let template = item["template"]?.string else {
          throw ModelDirectoryError(
            path: path, "field 'chat_template[\(index)]' must be {\"name\": …, \"template\": …}")
        }
        if name == "default" {
          chatTemplate = template
        } else {
          namedChatTemplates[name] = template
        }
      }
    case let other?:
      throw ModelDirectoryError(
        path: path, "field 'chat_template' must be a string or a list, not \(other.kindName)")
    }
    if let decoder = object["added_tokens_decoder"] {
      guard let entries = decoder.object else {
        throw ModelDirectoryError(path: path, "field 'added_tokens_decoder' must be an object")
      }
      for (key, entry) in entries {
        let field = "added_tokens_decoder.\(key)"
        guard let id = Int(key), id >= 0, let content = entry["content"]?.string else {
          throw ModelDirectoryError(
            path: path, "field '\(field)' must map an id to {\"content\": …, \"special\": …}")
        }
        guard id < tokens.count else {
          throw ModelDirectoryError(
            path: path, "field '\(field)': id is outside the vocabulary 0..<\(tokens.count)")
        }
        let special = entry["special"] == .bool(true)
        if types[id] == .unused && tokens[id] == "[PAD\(id)]" {
          // A token added on top of the sentencepiece model, as the converter inserts it.
          tokens[id] = content
          scores[id] = -1000
          types[id] = special ? .control : .userDefined
          continue
        }
        guard tokens[id] == content else {
          throw ModelDirectoryError(
            path: path,
            "field '\(field)': content \(content.debugDescription) differs from piece "
              + "\(tokens[id].debugDescription) of tokenizer.model")
        }
        if special { types[id] = .control }
      }
    }
  }

  /// The `tokenizer.*` metadata, in the order llama.cpp's converter writes it.
  public var metadata: [(key: String, value: GGUFValue)] {
    var result: [(String, GGUFValue)] = [
      ("tokenizer.ggml.model", .string(model)),
      ("tokenizer.ggml.pre", .string(pre)),
      ("tokenizer.ggml.tokens", .strings(tokens)),
    ]
    if model == "llama" { result.append(("tokenizer.ggml.scores", .float32s(scores))) }
    result.append(("tokenizer.ggml.token_type", .int32s(types.map(\.rawValue))))
    if !merges.isEmpty { result.append(("tokenizer.ggml.merges", .strings(merges))) }
    for (key, id) in [
      ("bos", bos), ("eos", eos), ("unknown", unknown), ("seperator", separator),
      ("padding", padding), ("mask", mask), ("eot", endOfTurn), ("eom", endOfMessage),
    ] {
      if let id { result.append(("tokenizer.ggml.\(key)_token_id", .uint32(UInt32(id)))) }
    }
    for (key, flag) in [
      ("add_bos_token", addBOS), ("add_eos_token", addEOS), ("add_sep_token", addSeparator),
      ("add_space_prefix", addSpacePrefix),
    ] {
      if let flag { result.append(("tokenizer.ggml.\(key)", .bool(flag))) }
    }
    if let chatTemplate { result.append(("tokenizer.chat_template", .string(chatTemplate))) }
    let names = namedChatTemplates.keys.sorted()
    for name in names {
      result.append(("tokenizer.chat_template.\(name)", .string(namedChatTemplates[name]!)))
    }
    if !names.isEmpty { result.append(("tokenizer.chat_templates", .strings(names))) }
    return result
  }
}
