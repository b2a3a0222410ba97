import Foundation
import MiniSupport

/// The tokenizer of a Hugging Face model directory, as `AutoTokenizer.from_pretrained` finds it:
/// `tokenizer.model` (sentencepiece) when present, else `tokenizer.json` (byte-level BPE), with
/// the special tokens, BOS/EOS flags and chat template of `tokenizer_config.json`.
public struct PretrainedTokenizer: Sendable {
  /// The tokenizer; its `specialIDs` carry the BOS, EOS, unknown and pad tokens named in
  /// `tokenizer_config.json` (else the model's own).
  public var tokenizer: any Tokenizer
  /// `bos_token`, `eos_token`, `unk_token`, `pad_token` of `tokenizer_config.json`.
  public var bosToken: String?
  public var eosToken: String?
  public var unknownToken: String?
  public var padToken: String?
  /// `add_bos_token` / `add_eos_token` (false when absent).
  public var addsBOS: Bool
  public var addsEOS: Bool
  /// The Jinja `chat_template` (the `default` one when the file lists several).
  public var chatTemplate: String?

  /// A tokenizer with its settings given directly (as a GGUF file's metadata gives them); the
  /// special tokens are the pieces of `tokenizer.specialIDs`.
  public init(tokenizer: any Tokenizer, addsBOS: Bool, addsEOS: Bool = false, chatTemplate: String?)
  {
    self.tokenizer = tokenizer
    let ids = tokenizer.specialIDs
    bosToken = ids.bos.flatMap { tokenizer.piece(for: $0) }
    eosToken = ids.eos.flatMap { tokenizer.piece(for: $0) }
    unknownToken = ids.unknown.flatMap { tokenizer.piece(for: $0) }
    padToken = ids.pad.flatMap { tokenizer.piece(for: $0) }
    self.addsBOS = addsBOS
    self.addsEOS = addsEOS
    self.chatTemplate = chatTemplate
  }

  /// The ids of a prompt: BOS first when ``addsBOS`` (and the tokenizer has one), then `text`
  /// with the special tokens in it kept whole, as llama.cpp encodes a prompt.
  public func encodePrompt(_ text: String) throws -> [Int32] {
    var ids: [Int32] = []
    if addsBOS, let bos = tokenizer.specialIDs.bos { ids.append(Int32(bos)) }
    try tokenizer.encode(text, appendingTo: &ids)
    if addsEOS, let eos = tokenizer.specialIDs.eos { ids.append(Int32(eos)) }
    return ids
  }

  /// Reads the tokenizer files of `directory`.
  /// - Throws: `TokenizerError.loadFailed` naming the file (and field) at fault, or when the
  ///   directory has neither `tokenizer.model` nor `tokenizer.json`.
  public init(directory: String) throws {
    let folder = URL(fileURLWithPath: directory)
    let modelPath = folder.appendingPathComponent("tokenizer.model").path
    let jsonPath = folder.appendingPathComponent("tokenizer.json").path
    let configPath = folder.appendingPathComponent("tokenizer_config.json").path
    if FileManager.default.fileExists(atPath: modelPath) {
      let settings = try Self.settings(configPath: configPath)
      self.init(settings, tokenizer: try SentencePieceTokenizer(contentsOf: modelPath))
      return
    }
    guard FileManager.default.fileExists(atPath: jsonPath) else {
      throw TokenizerError.loadFailed(
        path: directory, message: "has neither tokenizer.model nor tokenizer.json")
    }
    if let data = FileManager.default.contents(atPath: jsonPath),
      let root = try? data.withUnsafeBytes({ bytes throws(JSONFailure) in
        try JSONParser.parseObject(bytes, keeping: ["model"])
      }),
      root["model"]?["type"]?.string == "Unigram"
        || root["model"]?["byte_fallback"] == .bool(true)
    {
      // The tokenizer.json MiniLLM writes beside tokenizer.model mirrors a sentencepiece model.
      throw TokenizerError.loadFailed(
        path: modelPath,
        message: "not found; \(jsonPath) mirrors a sentencepiece model (unigram or byte "
          + "fallback), which is read from tokenizer.model")
    }
    try self.init(tokenizerJSON: jsonPath, config: configPath)
  }

  /// Reads a byte-level BPE `tokenizer.json` with the settings of `configPath`
  /// (`tokenizer_config.json`; none when it does not exist).
  /// - Throws: `TokenizerError.loadFailed` naming the file (and field) at fault.
  public init(tokenizerJSON jsonPath: String, config configPath: String?) throws {
    let settings = try Self.settings(configPath: configPath)
    let reader = TokenizerJSONReader(origin: configPath ?? jsonPath)
    var bpe = try ByteLevelBPETokenizer(contentsOf: jsonPath)
    func id(_ token: String?, _ key: String) throws -> Int? {
      guard let token else { return nil }
      guard let id = bpe.id(for: token) else {
        throw reader.failure("$.\(key)", "'\(token)' is not a token of \(jsonPath)")
      }
      return id
    }
    bpe.specialIDs = SpecialTokenIDs(
      unknown: try id(settings.unknownToken, "unk_token") ?? bpe.specialIDs.unknown,
      bos: try id(settings.bosToken, "bos_token"), eos: try id(settings.eosToken, "eos_token"),
      pad: try id(settings.padToken, "pad_token"))
    self.init(settings, tokenizer: bpe)
  }

  /// The settings of `tokenizer_config.json`, read apart from the tokenizer.
  private struct Settings {
    var bosToken, eosToken, unknownToken, padToken: String?
    var addsBOS = false
    var addsEOS = false
    var chatTemplate: String?
  }

  private init(_ settings: Settings, tokenizer: any Tokenizer) {
    self.tokenizer = tokenizer
    bosToken = settings.bosToken
    eosToken = settings.eosToken
    unknownToken = settings.unknownToken
    padToken = settings.padToken
    addsBOS = settings.addsBOS
    addsEOS = settings.addsEOS
    chatTemplate = settings.chatTemplate
  }

  /// Reads `tokenizer_config.json` at `configPath` (all defaults when it is absent).
  private static func settings(configPath: String?) throws -> Settings {
    var config: [String: JSONValue] = [:]
    if let configPath, let data = FileManager.default.contents(atPath: configPath) {
      do {
        config = try data.withUnsafeBytes { bytes throws(JSONFailure) in
          try JSONParser.parseObject(bytes, keeping: nil)
        }
      } catch {
        throw TokenizerError.loadFailed(path: configPath, message: "not a JSON object: \(error)")
      }
    }
    let reader = TokenizerJSONReader(origin: configPath ?? "tokenizer_config.json")
    func token(_ key: String) throws -> String? {
      switch config[key] {
      case nil, .null: return nil
      case .string(let text): return text
      case .object(let members): return try reader.string(members["content"], "$.\(key).content")
      case let other?:
        throw reader.failure("$.\(key)", "expected a string or an object, found \(other.kindName)")
      }
    }
    func flag(_ key: String) throws -> Bool {
      guard let value = config[key], value != .null else { return false }
      return try reader.bool(value, "$.\(key)")
    }
    var settings = Settings()
    settings.bosToken = try token("bos_token")
    settings.eosToken = try token("eos_token")
    settings.unknownToken = try token("unk_token")
    settings.padToken = try token("pad_token")
    settings.addsBOS = try flag("add_bos_token")
    settings.addsEOS = try flag("add_eos_token")
    switch config["chat_template"] {
    case nil, .null: settings.chatTemplate = nil
    case .string(let text): settings.chatTemplate = text
    case .array(let list):
      for (index, item) in list.enumerated() {
        let entry = try reader.object(item, "$.chat_template[\(index)]")
        if try reader.string(entry["name"], "$.chat_template[\(index)].name") == "default" {
          settings.chatTemplate = try reader.string(
            entry["template"], "$.chat_template[\(index)].template")
        }
      }
    case let other?:
      throw reader.failure(
        "$.chat_template", "expected a string or a list, found \(other.kindName)")
    }
    return settings
  }
}
