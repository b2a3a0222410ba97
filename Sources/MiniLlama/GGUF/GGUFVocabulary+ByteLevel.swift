import Foundation
import MiniSupport
import MiniTokenize

extension GGUFVocabulary {
  /// Reads the byte-level BPE `tokenizer.json` of `directory` (with `tokenizer_config.json`,
  /// `config.json` and the chat template files) as llama.cpp's `convert_hf_to_gguf.py` writes
  /// such a vocabulary (`_set_vocab_gpt2`, gguf-py's `SpecialVocab`):
  ///
  /// - `tokenizer.ggml.model` "gpt2"; `tokenizer.ggml.pre` the name llama.cpp gives the
  ///   tokenizer's pre-tokenizer (`ByteLevelBPETokenizer.ggufPreTokenizerName(origin:)`); one
  ///   that llama.cpp does not know is refused rather than written under a name that splits
  ///   text differently.
  /// - one token per id up to `config.json`'s `vocab_size`: the vocabulary's byte-level strings
  ///   (normal), the added tokens' contents (control when `special` or shaped like one —
  ///   `<|…|>`, `<｜…｜>`, `<unused…>`, `<pad>`, `<mask>` —, else user-defined with `▁` read
  ///   as a space), and `[PAD<id>]` (unused) for ids neither has.
  /// - the merges as `"a b"` (a space inside a pair's token is written `Ġ`).
  /// - the special ids: `tokenizer_config.json`'s `bos_token`, `eos_token`, `unk_token`,
  ///   `sep_token`, `pad_token`, `mask_token` found among `tokenizer.json`'s `added_tokens`,
  ///   then `config.json`'s `…_token_id` for the ones still unset (a list is no id); a
  ///   `TemplateProcessing` post-processor whose single template ends with another token than
  ///   the EOS makes that token the EOS and the old one the end-of-turn token.
  /// - `add_bos_token`, `add_eos_token`, `add_sep_token`: what the post-processor's templates
  ///   add, overridden by `tokenizer_config.json`'s flags; absent when neither says (llama.cpp
  ///   then decides by the pre-tokenizer). A Llama model with 49152 ids (SmolLM, Granite) gets
  ///   `add_bos_token` false, as the converter gives it.
  /// - `tokenizer.chat_template` from `tokenizer_config.json`'s `chat_template`, else
  ///   `chat_template.jinja` or `chat_template.json`, only when `tokenizer_config.json` exists.
  /// - Throws: `ModelDirectoryError` naming the file and field: a tokenizer that is not
  ///   byte-level BPE or whose pre-tokenizer, normaliser or `ignore_merges` llama.cpp would not
  ///   reproduce, ids at or past `vocab_size`, negative special ids, values of the wrong type.
  public init(byteLevelDirectory directory: ModelDirectory, config: LlamaConfig) throws {
    let jsonPath = directory.file("tokenizer.json")
    let tokenizer: ByteLevelBPETokenizer
    let pre: String
    do {
      tokenizer = try ByteLevelBPETokenizer(contentsOf: jsonPath)
      pre = try tokenizer.ggufPreTokenizerName(origin: jsonPath)
    } catch TokenizerError.loadFailed(let path, let message) {
      throw ModelDirectoryError(path: path, message)
    }
    let root = try Self.readObject(jsonPath)
    let vocabularySize = config.vocabSize
    func outside(_ field: String, _ id: Int) -> ModelDirectoryError {
      ModelDirectoryError(
        path: jsonPath,
        "\(field): id \(id) is not below config.json's vocab_size \(vocabularySize)")
    }
    var tokens = (0..<vocabularySize).map { "[PAD\($0)]" }
    var types = [GGUFTokenType](repeating: .unused, count: vocabularySize)
    for (token, value) in root["model"]?["vocab"]?.object ?? [:] {
      let id = value.number?.integer ?? -1
      guard (0..<vocabularySize).contains(id) else {
        throw outside("$.model.vocab['\(token)']", id)
      }
      tokens[id] = token
      types[id] = .normal
    }
    let addedTokens = root["added_tokens"]?.array ?? []
    for (index, entry) in addedTokens.enumerated() {
      let id = entry["id"]?.number?.integer ?? -1
      let content = entry["content"]?.string ?? ""
      guard (0..<vocabularySize).contains(id) else {
        throw outside("$.added_tokens[\(index)].id", id)
      }
      if entry["special"] == .bool(true) || Self.looksSpecial(content) {
        tokens[id] = content
        types[id] = .control
      } else {
        tokens[id] = content.replacingOccurrences(of: "\u{2581}", with: " ")
        types[id] = .userDefined
      }
    }
    var merges: [String] = []
    for value in root["model"]?["merges"]?.array ?? [] {
      switch value {
      case .string(let line): merges.append(line)
      case .array(let pair):
        // A space inside a token of a pair is written as its byte-level character.
        let parts = pair.map { ($0.string ?? "").replacingOccurrences(of: " ", with: "\u{120}") }
        merges.append(parts.joined(separator: " "))
      default: break  // the tokenizer above has checked every merge
      }
    }
    let tokenizerConfigPath = directory.file("tokenizer_config.json")
    var tokenizerConfig: [String: JSONValue]? = nil
    if FileManager.default.fileExists(atPath: tokenizerConfigPath) {
      tokenizerConfig = try Self.readObject(tokenizerConfigPath)
    }
    var special = try SpecialTokens(
      tokenizerJSON: root, jsonPath: jsonPath, tokenizerConfig: tokenizerConfig,
      tokenizerConfigPath: tokenizerConfigPath, vocabularySize: vocabularySize)
    let configPath = directory.file("config.json")
    try special.read(config: try Self.readObject(configPath), path: configPath)

    self.init(tokens: tokens, scores: [], types: types)
    model = "gpt2"
    self.pre = pre
    self.merges = merges
    bos = special.ids["bos"]
    eos = special.ids["eos"]
    unknown = special.ids["unk"]
    separator = special.ids["sep"]
    padding = special.ids["pad"]
    mask = special.ids["mask"]
    endOfTurn = special.ids["eot"]
    endOfMessage = special.ids["eom"]
    addBOS = special.add["bos"]
    addEOS = special.add["eos"]
    addSeparator = special.add["sep"]
    if config.architecture == .llama && vocabularySize == 49152 { addBOS = false }
    if let tokenizerConfig, !tokenizerConfig.isEmpty {
      try readChatTemplate(
        tokenizerConfig, path: tokenizerConfigPath, directory: directory)
    }
  }

  /// A vocabulary of `tokens`, `scores` and `types` with nothing else set.
  init(tokens: [String], scores: [Float], types: [GGUFTokenType]) {
    self.tokens = tokens
    self.scores = scores
    self.types = types
  }

  /// Whether an added token not marked special is one by its look, as the converter judges
  /// (`does_token_look_special`): such tokens are control tokens.
  static func looksSpecial(_ token: String) -> Bool {
    ["<pad>", "<mask>", "<2mass>", "[@BOS@]"].contains(token)
      || (token.hasPrefix("<|") && token.hasSuffix("|>"))
      || (token.hasPrefix("<\u{FF5C}") && token.hasSuffix("\u{FF5C}>"))
      || (token.hasPrefix("<unused") && token.hasSuffix(">"))
  }

  /// The JSON object in the file at `path`.
  static func readObject(_ path: String) throws -> [String: JSONValue] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ModelDirectoryError(path: path, "cannot read")
    }
    do {
      return try data.withUnsafeBytes { try JSONParser.parseObject($0, keeping: nil) }
    } catch {
      throw ModelDirectoryError(path: path, "not a JSON object: \(error)")
    }
  }

  /// The chat template as `SpecialVocab` finds it: `chat_template` of `tokenizer_config.json`
  /// (a string, or a list of `{name, template}` whose names keep letters and digits only), else
  /// `chat_template.jinja` (with `additional_chat_templates/*.jinja`), else the
  /// `chat_template` of `chat_template.json`.
  private mutating func readChatTemplate(
    _ tokenizerConfig: [String: JSONValue], path: String, directory: ModelDirectory
  ) throws {
    var value = tokenizerConfig["chat_template"]
    var origin = (path, "chat_template")
    if value == nil {
      let jinjaPath = directory.file("chat_template.jinja")
      let jsonPath = directory.file("chat_template.json")
      if FileManager.default.fileExists(atPath: jinjaPath) {
        guard let text = try? String(contentsOfFile: jinjaPath, encoding: .utf8) else {
          throw ModelDirectoryError(path: jinjaPath, "cannot read as UTF-8 text")
        }
        value = .string(text)
        origin = (jinjaPath, "text")
        let folder = directory.file("additional_chat_templates")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
        let extra = names.filter { $0.hasSuffix(".jinja") }.sorted()
        if !extra.isEmpty {
          var list: [JSONValue] = [
            .object(["name": .string("default"), "template": .string(text)])
          ]
          for name in extra {
            let file = folder + "/" + name
            guard let template = try? String(contentsOfFile: file, encoding: .utf8) else {
              throw ModelDirectoryError(path: file, "cannot read as UTF-8 text")
            }
            list.append(
              .object([
                "name": .string(String(name.dropLast(".jinja".count))),
                "template": .string(template),
              ]))
          }
          value = .array(list)
        }
      } else if FileManager.default.fileExists(atPath: jsonPath) {
        value = try Self.readObject(jsonPath)["chat_template"]
        origin = (jsonPath, "chat_template")
      }
    }
    switch value {
    case nil, .null: break
    case .string(let text): chatTemplate = text
    case .array(let list):
      for item in list {
        guard case .string(let template)? = item["template"] else { continue }
        let name = String(
          (item["name"]?.string ?? "").map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" }
        )
        guard !name.isEmpty else { continue }
        if name == "default" {
          chatTemplate = template
        } else {
          namedChatTemplates[name] = template
        }
      }
    case let other?:
      throw ModelDirectoryError(
        path: origin.0,
        "field '\(origin.1)' must be a string or a list, not \(other.kindName)")
    }
  }
}

/// The special ids and add-token flags as gguf-py's `SpecialVocab` derives them from a
/// `tokenizer.json`, its `tokenizer_config.json` and `config.json`.
private struct SpecialTokens {
  /// The kinds looked up, in order (`eot`, `eom` join when a template's end replaces the EOS).
  var kinds = ["bos", "eos", "unk", "sep", "pad", "cls", "mask"]
  /// The ids found, by kind; the first found wins.
  var ids: [String: Int] = [:]
  /// The `add_<kind>_token` flags found.
  var add: [String: Bool] = [:]
  let vocabularySize: Int

  /// Reads the post-processor of `tokenizer.json` and the tokens of `tokenizer_config.json`.
  init(
    tokenizerJSON root: [String: JSONValue], jsonPath: String,
    tokenizerConfig original: [String: JSONValue]?, tokenizerConfigPath: String,
    vocabularySize: Int
  ) throws {
    self.vocabularySize = vocabularySize
    var config = original
    let hasConfig = !(config ?? [:]).isEmpty
    func truthy(_ value: JSONValue?) -> Bool {
      switch value {
      case nil, .null?: false
      case .bool(let flag)?: flag
      case .number(let number)?: number.value != 0
      case .string(let text)?: !text.isEmpty
      case .array(let list)?: !list.isEmpty
      case .object(let members)?: !members.isEmpty
      }
    }
    var bos = config?["bos_token"]
    var cls = config?["cls_token"]
    var eos = config?["eos_token"]
    var sep = config?["sep_token"]
    if !truthy(bos) && truthy(cls) && hasConfig {
      bos = cls
      config?["bos_token"] = cls
    }
    if !truthy(eos) && truthy(sep) && hasConfig {
      eos = sep
      config?["eos_token"] = sep
    }
    if let processor = root["post_processor"], truthy(processor) {
      let processors = processor["processors"]?.array ?? [processor]
      for processor in processors {
        switch processor["type"]?.string {
        case "RobertaProcessing":
          add["bos"] = true
          add["eos"] = true
          add["sep"] = true
          if !truthy(cls) && hasConfig {
            cls = processor["cls"]?.array?.first ?? bos
            config?["cls_token"] = cls
          }
          if !truthy(sep) && hasConfig {
            sep = processor["sep"]?.array?.first ?? eos
            config?["sep_token"] = sep
          }
        case "TemplateProcessing":
          let single = processor["single"]?.array ?? []
          var pair = processor["pair"]?.array ?? []
          var first: JSONValue?
          var last: JSONValue?
          if single.count > 1 {
            first = single.first?["SpecialToken"]?["id"]
            if truthy(first) {
              if !hasConfig { bos = first }
              add["bos"] = first == bos || first == cls
            } else {
              first = nil
            }
            last = single.last?["SpecialToken"]?["id"]
            if truthy(last) {
              if !hasConfig {
                eos = last
              } else if last != eos {
                if !kinds.contains("eot") {
                  kinds.append("eot")
                  config?["eot_token"] = eos
                } else if !kinds.contains("eom") {
                  kinds.append("eom")
                  config?["eom_token"] = eos
                }
                eos = last
                config?["eos_token"] = last
              }
              add["eos"] = last == eos
            } else {
              last = nil
            }
          }
          if !pair.isEmpty {
            let start = first != nil && pair.first?["SpecialToken"]?["id"] == first ? 1 : 0
            let stop = last != nil && pair.last?["SpecialToken"]?["id"] == last ? 1 : 0
            pair = start <= pair.count - stop ? Array(pair[start..<(pair.count - stop)]) : []
            if !pair.isEmpty, pair.first?["Sequence"]?["id"] == .string("A"),
              pair.last?["Sequence"]?["id"] == .string("B"), pair.count > 2
            {
              let middle = Array(pair[1..<(pair.count - 1)])
              var addSeparator = false
              let entry = middle[0]["SpecialToken"]?["id"]
              if truthy(entry), entry == sep || entry == eos, last == nil {
                addSeparator = true
              }
              if middle.count == 2 {
                let second = middle[1]["SpecialToken"]?["id"]
                if truthy(second), second == sep || second == eos { addSeparator = true }
              }
              add["sep"] = addSeparator
              if addSeparator && !truthy(sep) && hasConfig { config?["sep_token"] = eos }
            }
          }
        default:
          break
        }
      }
    }
    guard let config, hasConfig else { return }
    let addedTokens = root["added_tokens"]?.array ?? []
    for kind in kinds {
      if case .bool(let flag)? = config["add_\(kind)_token"] { add[kind] = flag }
      let content: String
      switch config["\(kind)_token"] {
      case .string(let text)?: content = text
      case .object(let members)?:
        guard let text = members["content"]?.string else { continue }
        content = text
      default: continue
      }
      guard let token = addedTokens.first(where: { $0["content"]?.string == content }) else {
        continue
      }
      try set(kind, token["id"], path: tokenizerConfigPath, field: "\(kind)_token")
    }
  }

  /// Reads `config.json`'s `<kind>_token_id` (or its `text_config`'s) for the kinds unset.
  mutating func read(config: [String: JSONValue], path: String) throws {
    for kind in kinds {
      let key = "\(kind)_token_id"
      if config[key] == nil || config[key] == .null, let nested = config["text_config"]?[key] {
        try set(kind, nested, path: path, field: "text_config.\(key)")
      } else {
        try set(kind, config[key], path: path, field: key)
      }
    }
  }

  /// Sets the id of `kind` to `value` when it is an integer and the kind has none yet.
  mutating func set(_ kind: String, _ value: JSONValue?, path: String, field: String) throws {
    guard case .number(let number)? = value, number.isIntegerLiteral, let id = number.integer
    else { return }
    guard id >= 0 else {
      throw ModelDirectoryError(path: path, "field '\(field)': the id \(id) is negative")
    }
    guard ids[kind] == nil else { return }
    guard id < vocabularySize else {
      throw ModelDirectoryError(
        path: path,
        "field '\(field)': the id \(id) is not below config.json's vocab_size \(vocabularySize)")
    }
    ids[kind] = id
  }
}
