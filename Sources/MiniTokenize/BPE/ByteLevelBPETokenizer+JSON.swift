import Foundation
import MiniSupport

extension ByteLevelBPETokenizer {
  /// Loads a Hugging Face `tokenizer.json`, or `tokenizer.json` inside a directory.
  /// - Throws: `TokenizerError.loadFailed` naming the file and the field at fault.
  public init(contentsOf path: String) throws {
    var isDirectory: ObjCBool = false
    var file = path
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
      isDirectory.boolValue
    {
      file = URL(fileURLWithPath: path).appendingPathComponent("tokenizer.json").path
    }
    guard let data = FileManager.default.contents(atPath: file) else {
      throw TokenizerError.loadFailed(path: file, message: "no such file or not readable")
    }
    try self.init(json: [UInt8](data), origin: file)
  }

  /// Reads the text of a `tokenizer.json`; `origin` names it in errors.
  ///
  /// Supported: a `BPE` model (vocabulary, merges as `"a b"` strings or `["a", "b"]` pairs,
  /// `ignore_merges`, `unk_token`), `added_tokens`, the `NFC`/`NFD`/`NFKC`/`NFKD` normalizers
  /// (alone or in a `Sequence`), the `ByteLevel`, `Split`, `Digits` pre-tokenizers (alone or in a
  /// `Sequence`, with at least one `ByteLevel`), and the `ByteLevel` decoder.
  /// - Throws: `TokenizerError.loadFailed` naming `origin` and the field (`$.model.merges[3]`)
  ///   for malformed JSON, a wrong type, or a component this reader does not support.
  public init(json: [UInt8], origin: String = "<memory>") throws {
    let root: [String: JSONValue]
    do {
      root = try json.withUnsafeBytes { bytes throws(JSONFailure) in
        try JSONParser.parseObject(bytes, keeping: nil)
      }
    } catch {
      throw TokenizerError.loadFailed(path: origin, message: "not a valid JSON object: \(error)")
    }
    let reader = TokenizerJSONReader(origin: origin)
    let model = try reader.object(root["model"], "$.model")
    if let type = model["type"] {
      let name = try reader.string(type, "$.model.type")
      guard name == "BPE" else {
        throw reader.failure("$.model.type", "'\(name)' is not supported; only BPE is")
      }
    }
    for key in ["continuing_subword_prefix", "end_of_word_suffix"] {
      if let value = model[key], value != .null {
        let text = try reader.string(value, "$.model.\(key)")
        guard text.isEmpty else {
          throw reader.failure("$.model.\(key)", "'\(text)' is not supported by byte-level BPE")
        }
      }
    }
    if let dropout = model["dropout"], dropout != .null {
      guard case .number(let number) = dropout, number.value == 0 else {
        throw reader.failure("$.model.dropout", "BPE dropout is not supported")
      }
    }
    if let fallback = model["byte_fallback"], try reader.bool(fallback, "$.model.byte_fallback") {
      throw reader.failure("$.model.byte_fallback", "byte fallback is not byte-level BPE")
    }
    let ignoreMerges =
      try model["ignore_merges"].map { try reader.bool($0, "$.model.ignore_merges") } ?? false
    let unknown = try model["unk_token"].flatMap { value -> String? in
      value == .null ? nil : try reader.string(value, "$.model.unk_token")
    }
    var vocabulary: [String: Int] = [:]
    let vocab = try reader.object(model["vocab"], "$.model.vocab")
    vocabulary.reserveCapacity(vocab.count)
    for (token, value) in vocab {
      vocabulary[token] = try reader.id(value, "$.model.vocab['\(token)']")
    }
    let mergeValues = try reader.array(model["merges"] ?? .array([]), "$.model.merges")
    var merges: [(String, String)] = []
    merges.reserveCapacity(mergeValues.count)
    for (index, value) in mergeValues.enumerated() {
      let field = "$.model.merges[\(index)]"
      switch value {
      case .string(let line):
        let parts = line.split(separator: " ", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
          throw reader.failure(field, "'\(line)' is not two tokens separated by one space")
        }
        merges.append((String(parts[0]), String(parts[1])))
      case .array(let pair):
        guard pair.count == 2 else {
          throw reader.failure(field, "a merge pair has \(pair.count) elements, not 2")
        }
        merges.append(
          (try reader.string(pair[0], field + "[0]"), try reader.string(pair[1], field + "[1]")))
      default:
        throw reader.failure(
          field, "expected a string or a pair of strings, found \(value.kindName)")
      }
    }
    var added: [AddedToken] = []
    if let list = root["added_tokens"], list != .null {
      for (index, value) in try reader.array(list, "$.added_tokens").enumerated() {
        let field = "$.added_tokens[\(index)]"
        let token = try reader.object(value, field)
        for flag in ["single_word", "lstrip", "rstrip"] {
          if let value = token[flag], try reader.bool(value, "\(field).\(flag)") {
            throw reader.failure("\(field).\(flag)", "true is not supported")
          }
        }
        added.append(
          AddedToken(
            id: try reader.id(token["id"], "\(field).id"),
            content: try reader.string(token["content"], "\(field).content"),
            special: try token["special"].map { try reader.bool($0, "\(field).special") } ?? false))
      }
    }
    let normalizations = try reader.normalizations(root["normalizer"], "$.normalizer")
    var steps: [PreTokenizerStep] = []
    try reader.preTokenizer(root["pre_tokenizer"], "$.pre_tokenizer", into: &steps)
    guard steps.contains(where: { if case .byteLevel = $0 { true } else { false } }) else {
      throw reader.failure(
        "$.pre_tokenizer", "has no ByteLevel step: this is not a byte-level BPE tokenizer")
    }
    let decoder = try reader.object(root["decoder"], "$.decoder")
    let decoderType = try reader.string(decoder["type"], "$.decoder.type")
    guard decoderType == "ByteLevel" else {
      throw reader.failure("$.decoder.type", "'\(decoderType)' is not supported; only ByteLevel is")
    }
    try self.init(
      vocabulary: vocabulary, merges: merges, addedTokens: added,
      preTokenizer: PreTokenizer(steps: steps), normalizations: normalizations,
      ignoreMerges: ignoreMerges, unknownToken: unknown, origin: origin)
  }
}

/// Reads typed fields of a `tokenizer.json`, with errors naming the file and the field.
struct TokenizerJSONReader {
  let origin: String

  func failure(_ field: String, _ message: String) -> TokenizerError {
    TokenizerError.loadFailed(path: origin, message: "\(field): \(message)")
  }

  func object(_ value: JSONValue?, _ field: String) throws -> [String: JSONValue] {
    guard let value else { throw failure(field, "missing") }
    guard case .object(let members) = value else {
      throw failure(field, "expected an object, found \(value.kindName)")
    }
    return members
  }

  func array(_ value: JSONValue?, _ field: String) throws -> [JSONValue] {
    guard let value else { throw failure(field, "missing") }
    guard case .array(let elements) = value else {
      throw failure(field, "expected an array, found \(value.kindName)")
    }
    return elements
  }

  func string(_ value: JSONValue?, _ field: String) throws -> String {
    guard let value else { throw failure(field, "missing") }
    guard case .string(let text) = value else {
      throw failure(field, "expected a string, found \(value.kindName)")
    }
    return text
  }

  func bool(_ value: JSONValue?, _ field: String) throws -> Bool {
    guard let value else { throw failure(field, "missing") }
    guard case .bool(let flag) = value else {
      throw failure(field, "expected true or false, found \(value.kindName)")
    }
    return flag
  }

  func id(_ value: JSONValue?, _ field: String) throws -> Int {
    guard let value else { throw failure(field, "missing") }
    guard case .number(let number) = value, number.isIntegerLiteral, let id = number.integer,
      id >= 0 && id < ByteLevelBPETokenizer.maximumVocabularySize
    else {
      throw failure(
        field,
        "expected an id in 0..<\(ByteLevelBPETokenizer.maximumVocabularySize), found \(value.kindName == "a number" ? "\(value.number!)" : value.kindName)"
      )
    }
    return id
  }

  func normalizations(_ value: JSONValue?, _ field: String) throws
    -> [ByteLevelBPETokenizer.Normalization]
  {
    guard let value, value != .null else { return [] }
    let members = try object(value, field)
    let type = try string(members["type"], field + ".type")
    switch type {
    case "NFC": return [.nfc]
    case "NFD": return [.nfd]
    case "NFKC": return [.nfkc]
    case "NFKD": return [.nfkd]
    case "Sequence":
      var result: [ByteLevelBPETokenizer.Normalization] = []
      for (index, element) in try array(members["normalizers"], field + ".normalizers").enumerated()
      {
        result += try normalizations(element, "\(field).normalizers[\(index)]")
      }
      return result
    default:
      throw failure(
        field + ".type",
        "'\(type)' is not supported (NFC, NFD, NFKC, NFKD or a Sequence of them are)")
    }
  }

  func preTokenizer(_ value: JSONValue?, _ field: String, into steps: inout [PreTokenizerStep])
    throws
  {
    guard let value, value != .null else { return }
    let members = try object(value, field)
    let type = try string(members["type"], field + ".type")
    func flag(_ key: String, default fallback: Bool) throws -> Bool {
      try members[key].map { try bool($0, "\(field).\(key)") } ?? fallback
    }
    switch type {
    case "Sequence":
      for (index, element) in try array(members["pretokenizers"], field + ".pretokenizers")
        .enumerated()
      {
        try preTokenizer(element, "\(field).pretokenizers[\(index)]", into: &steps)
      }
    case "ByteLevel":
      steps.append(
        .byteLevel(
          addPrefixSpace: try flag("add_prefix_space", default: true),
          useRegex: try flag("use_regex", default: true)))
    case "Digits":
      steps.append(.digits(individual: try flag("individual_digits", default: false)))
    case "Split":
      let pattern = try object(members["pattern"], field + ".pattern")
      let split: SplitPattern
      if let source = pattern["Regex"] {
        let text = try string(source, field + ".pattern.Regex")
        do {
          split = try SplitPattern(regex: text)
        } catch {
          throw failure(field + ".pattern.Regex", "cannot compile '\(text)': \(error)")
        }
      } else {
        split = .literal(Array(try string(pattern["String"], field + ".pattern.String").utf8))
      }
      let name = try string(members["behavior"], field + ".behavior")
      guard let behavior = SplitBehavior(rawValue: name) else {
        throw failure(
          field + ".behavior",
          "'\(name)' is not one of \(SplitBehavior.allCases.map(\.rawValue).joined(separator: ", "))"
        )
      }
      steps.append(.split(split, behavior: behavior, invert: try flag("invert", default: false)))
    default:
      throw failure(
        field + ".type", "'\(type)' is not supported (ByteLevel, Split, Digits or a Sequence are)")
    }
  }
}
