import Foundation

/// A `config.json` key.
struct ConfigKey: CodingKey {
  var stringValue: String
  var intValue: Int? { nil }
  init(_ string: String) { stringValue = string }
  init?(stringValue: String) { self.stringValue = stringValue }
  init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer where Key == ConfigKey {
  /// A whole number under `key` (JSON `12` or `12.0`), or `nil` when absent or null.
  func integer(_ key: String, prefix: String = "") throws(LlamaConfigError) -> Int? {
    let k = ConfigKey(key)
    guard contains(k), (try? decodeNil(forKey: k)) == false else { return nil }
    if let value = try? decode(Int.self, forKey: k) { return value }
    if let value = try? decode(Double.self, forKey: k), value.rounded() == value,
      abs(value) < 1e15
    {
      return Int(value)
    }
    throw .invalid(key: prefix + key, "expected an integer")
  }

  func number(_ key: String, prefix: String = "") throws(LlamaConfigError) -> Double? {
    let k = ConfigKey(key)
    guard contains(k), (try? decodeNil(forKey: k)) == false else { return nil }
    if let value = try? decode(Double.self, forKey: k) { return value }
    throw .invalid(key: prefix + key, "expected a number")
  }

  func boolean(_ key: String) throws(LlamaConfigError) -> Bool? {
    let k = ConfigKey(key)
    guard contains(k), (try? decodeNil(forKey: k)) == false else { return nil }
    if let value = try? decode(Bool.self, forKey: k) { return value }
    throw .invalid(key: key, "expected true or false")
  }

  func string(_ key: String, prefix: String = "") throws(LlamaConfigError) -> String? {
    let k = ConfigKey(key)
    guard contains(k), (try? decodeNil(forKey: k)) == false else { return nil }
    if let value = try? decode(String.self, forKey: k) { return value }
    throw .invalid(key: prefix + key, "expected a string")
  }

  func required(_ key: String) throws(LlamaConfigError) -> Int {
    guard let value = try integer(key) else { throw .invalid(key: key, "is missing") }
    return value
  }
}

extension LlamaConfig: Codable {
  /// Decodes and validates a Hugging Face `config.json`.
  public init(from decoder: any Decoder) throws {
    let c: KeyedDecodingContainer<ConfigKey>
    do {
      c = try decoder.container(keyedBy: ConfigKey.self)
    } catch {
      throw LlamaConfigError.invalid(key: "(root)", "expected a JSON object")
    }
    let architecture: LlamaArchitecture
    if let type = try c.string("model_type") {
      guard let known = LlamaArchitecture(rawValue: type) else {
        throw LlamaConfigError.invalid(
          key: "model_type", "expected \"llama\", \"mistral\" or \"qwen2\", got \"\(type)\"")
      }
      architecture = known
    } else {
      architecture = .llama
    }
    if let act = try c.string("hidden_act"), act != "silu" {
      throw LlamaConfigError.invalid(
        key: "hidden_act", "only \"silu\" is supported, got \"\(act)\"")
    }
    if try c.boolean("mlp_bias") == true {
      throw LlamaConfigError.invalid(key: "mlp_bias", "MLP biases are not supported")
    }
    // Qwen2 and Mistral fix their biases; only Llama reads the flag, as transformers does.
    var attentionBias = false
    if architecture == .llama { attentionBias = try c.boolean("attention_bias") ?? false }
    let maxPositions = try c.integer("max_position_embeddings") ?? 2048
    let layerTypes = ConfigKey("layer_types")
    if c.contains(layerTypes), (try? c.decodeNil(forKey: layerTypes)) == false {
      guard let types = try? c.decode([String].self, forKey: layerTypes) else {
        throw LlamaConfigError.invalid(key: "layer_types", "expected a list of strings")
      }
      if let other = types.first(where: { $0 != "full_attention" }) {
        throw LlamaConfigError.invalid(
          key: "layer_types", "only \"full_attention\" layers are supported, got \"\(other)\"")
      }
    }
    // A sliding window is a different attention mask; one that covers every position is none.
    var windowInUse = true
    if architecture == .qwen2 { windowInUse = try c.boolean("use_sliding_window") ?? false }
    if architecture != .llama, windowInUse, let window = try c.integer("sliding_window"),
      window < maxPositions
    {
      throw LlamaConfigError.invalid(
        key: "sliding_window",
        "sliding-window attention (\(window) of \(maxPositions) positions) is not supported")
    }
    let headCount = try c.required("num_attention_heads")
    let hidden = try c.required("hidden_size")
    let headDim = try c.integer("head_dim")
    if headDim == nil, headCount > 0, hidden % headCount != 0 {
      throw LlamaConfigError.invalid(
        key: "num_attention_heads",
        "\(headCount) heads do not divide hidden_size \(hidden) (or set head_dim)")
    }

    var theta = try c.number("rope_theta") ?? 10_000
    var scaling: RopeScaling?
    for key in ["rope_parameters", "rope_scaling"] {
      let k = ConfigKey(key)
      guard c.contains(k), (try? c.decodeNil(forKey: k)) == false else { continue }
      let nested: KeyedDecodingContainer<ConfigKey>
      do {
        nested = try c.nestedContainer(keyedBy: ConfigKey.self, forKey: k)
      } catch {
        throw LlamaConfigError.invalid(key: key, "expected an object")
      }
      let prefix = key + "."
      if let value = try nested.number("rope_theta", prefix: prefix) { theta = value }
      let type =
        try nested.string("rope_type", prefix: prefix)
        ?? nested.string("type", prefix: prefix) ?? "default"
      let factor = try nested.number("factor", prefix: prefix)
      func needFactor() throws(LlamaConfigError) -> Double {
        guard let factor else { throw .invalid(key: prefix + "factor", "is missing") }
        return factor
      }
      switch type {
      case "default": break
      case "linear": scaling = .linear(factor: try needFactor())
      case "dynamic":
        scaling = .dynamic(
          factor: try needFactor(),
          originalMaxPositions: try nested.integer(
            "original_max_position_embeddings", prefix: prefix))
      case "llama3":
        guard
          let original = try nested.integer("original_max_position_embeddings", prefix: prefix)
        else {
          throw LlamaConfigError.invalid(
            key: prefix + "original_max_position_embeddings", "is missing")
        }
        scaling = .llama3(
          factor: try needFactor(),
          lowFrequencyFactor: try nested.number("low_freq_factor", prefix: prefix) ?? 1,
          highFrequencyFactor: try nested.number("high_freq_factor", prefix: prefix) ?? 4,
          originalMaxPositions: original)
      default:
        throw LlamaConfigError.invalid(key: prefix + "rope_type", "unsupported type \"\(type)\"")
      }
    }

    var eos: [Int] = []
    let eosKey = ConfigKey("eos_token_id")
    if c.contains(eosKey), (try? c.decodeNil(forKey: eosKey)) == false {
      if let list = try? c.decode([Int].self, forKey: eosKey) {
        eos = list
      } else if let single = try c.integer("eos_token_id") {
        eos = [single]
      }
    }

    self.init(
      vocabSize: try c.required("vocab_size"), hiddenSize: hidden,
      intermediateSize: try c.required("intermediate_size"),
      layerCount: try c.required("num_hidden_layers"), headCount: headCount,
      kvHeadCount: try c.integer("num_key_value_heads"),
      headDim: headDim,
      maxPositions: maxPositions,
      rmsNormEps: Float(try c.number("rms_norm_eps") ?? 1e-6),
      ropeTheta: theta, ropeScaling: scaling,
      tieWordEmbeddings: try c.boolean("tie_word_embeddings") ?? false,
      bosTokenId: try c.integer("bos_token_id"), eosTokenIds: eos,
      padTokenId: try c.integer("pad_token_id"),
      initializerRange: Float(try c.number("initializer_range") ?? 0.02))
    self.architecture = architecture
    self.attentionBias = attentionBias
    try validate()
  }

  /// Encodes the Hugging Face keys `LlamaForCausalLM` (or the Mistral or Qwen2 class) and
  /// llama.cpp's converter read, writing
  /// `tie_word_embeddings` explicitly and RoPE settings in both the old and the new spelling.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: ConfigKey.self)
    try c.encode([architecture.className], forKey: ConfigKey("architectures"))
    try c.encode(architecture.rawValue, forKey: ConfigKey("model_type"))
    try c.encode(vocabSize, forKey: ConfigKey("vocab_size"))
    try c.encode(hiddenSize, forKey: ConfigKey("hidden_size"))
    try c.encode(intermediateSize, forKey: ConfigKey("intermediate_size"))
    try c.encode(layerCount, forKey: ConfigKey("num_hidden_layers"))
    try c.encode(headCount, forKey: ConfigKey("num_attention_heads"))
    try c.encode(kvHeadCount, forKey: ConfigKey("num_key_value_heads"))
    try c.encode(headDim, forKey: ConfigKey("head_dim"))
    try c.encode(maxPositions, forKey: ConfigKey("max_position_embeddings"))
    try c.encode(Double(rmsNormEps), forKey: ConfigKey("rms_norm_eps"))
    try c.encode(ropeTheta, forKey: ConfigKey("rope_theta"))
    try c.encode(tieWordEmbeddings, forKey: ConfigKey("tie_word_embeddings"))
    try c.encode("silu", forKey: ConfigKey("hidden_act"))
    switch architecture {
    case .llama:
      try c.encode(attentionBias, forKey: ConfigKey("attention_bias"))
      try c.encode(false, forKey: ConfigKey("mlp_bias"))
      try c.encode(1, forKey: ConfigKey("pretraining_tp"))
    case .mistral:
      try c.encodeNil(forKey: ConfigKey("sliding_window"))
    case .qwen2:
      try c.encode(false, forKey: ConfigKey("use_sliding_window"))
      try c.encodeNil(forKey: ConfigKey("sliding_window"))
      try c.encode(layerCount, forKey: ConfigKey("max_window_layers"))
    }
    try c.encode(0.0, forKey: ConfigKey("attention_dropout"))
    try c.encode(Double(initializerRange), forKey: ConfigKey("initializer_range"))
    try c.encode(true, forKey: ConfigKey("use_cache"))
    try c.encode("float32", forKey: ConfigKey("torch_dtype"))
    try c.encodeIfPresent(bosTokenId, forKey: ConfigKey("bos_token_id"))
    if eosTokenIds.count == 1 {
      try c.encode(eosTokenIds[0], forKey: ConfigKey("eos_token_id"))
    } else if !eosTokenIds.isEmpty {
      try c.encode(eosTokenIds, forKey: ConfigKey("eos_token_id"))
    }
    try c.encodeIfPresent(padTokenId, forKey: ConfigKey("pad_token_id"))
    var rope: [String: RopeValue] = [
      "rope_theta": .number(ropeTheta), "rope_type": .string("default"),
    ]
    switch ropeScaling {
    case nil: break
    case .linear(let factor):
      rope["rope_type"] = .string("linear")
      rope["factor"] = .number(factor)
    case .dynamic(let factor, let original):
      rope["rope_type"] = .string("dynamic")
      rope["factor"] = .number(factor)
      if let original { rope["original_max_position_embeddings"] = .integer(original) }
    case .llama3(let factor, let low, let high, let original):
      rope["rope_type"] = .string("llama3")
      rope["factor"] = .number(factor)
      rope["low_freq_factor"] = .number(low)
      rope["high_freq_factor"] = .number(high)
      rope["original_max_position_embeddings"] = .integer(original)
    }
    if ropeScaling != nil {
      var legacy = rope
      legacy.removeValue(forKey: "rope_theta")
      try c.encode(legacy, forKey: ConfigKey("rope_scaling"))
    }
    try c.encode(rope, forKey: ConfigKey("rope_parameters"))
  }

  /// Reads and validates `config.json` at `path`.
  public static func load(contentsOf path: String) throws(LlamaConfigError) -> LlamaConfig {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw .unreadable(path: path, "cannot read: \(error.localizedDescription)")
    }
    do {
      return try JSONDecoder().decode(LlamaConfig.self, from: data)
    } catch let error as LlamaConfigError {
      throw .unreadable(path: path, error.description)
    } catch {
      // Foundation's decoder says only "not valid JSON": find where, for the message.
      if let (line, column, reason) = jsonSyntaxError(in: [UInt8](data)) {
        throw .unreadable(path: path, "not valid JSON: line \(line), column \(column): \(reason)")
      }
      throw .unreadable(path: path, "not valid JSON (\(error.localizedDescription))")
    }
  }

  /// The JSON text of `config.json` (sorted keys, pretty-printed).
  public func jsonData() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try encoder.encode(self)
  }
}

/// A value inside `rope_parameters`.
enum RopeValue: Encodable {
  case number(Double)
  case integer(Int)
  case string(String)

  func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    switch self {
    case .number(let v): try c.encode(v)
    case .integer(let v): try c.encode(v)
    case .string(let v): try c.encode(v)
    }
  }
}

/// The line, column (1-based, in bytes) and reason of the first JSON syntax error in `bytes`,
/// or `nil` when the syntax is valid. Iterative, so any nesting depth is checked in bounded
/// stack space.
func jsonSyntaxError(in bytes: [UInt8]) -> (line: Int, column: Int, reason: String)? {
  enum Expecting { case value, valueOrClose, key, keyOrClose, colon, separatorOrClose }
  var i = 0
  var containers: [UInt8] = []
  var state = Expecting.value
  func failure(_ reason: String) -> (Int, Int, String) {
    let before = bytes[..<min(i, bytes.count)]
    let line = before.filter { $0 == 0x0A }.count + 1
    let lineStart = before.lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
    return (line, i - lineStart + 1, reason)
  }
  func character() -> String {
    i < bytes.count ? "'\(String(decoding: [bytes[i]], as: UTF8.self))'" : "the end of the file"
  }
  func isDigit(_ b: UInt8) -> Bool { (0x30...0x39).contains(b) }
  /// Skips a string starting at `i` (a quote); false when it is malformed.
  func skipString() -> Bool {
    i += 1
    while i < bytes.count {
      switch bytes[i] {
      case UInt8(ascii: "\""):
        i += 1
        return true
      case UInt8(ascii: "\\"): i += 2
      case 0..<0x20: return false
      default: i += 1
      }
    }
    return false
  }
  func skipNumber() -> Bool {
    if bytes[i] == UInt8(ascii: "-") { i += 1 }
    guard i < bytes.count, isDigit(bytes[i]) else { return false }
    while i < bytes.count, isDigit(bytes[i]) { i += 1 }
    if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
      i += 1
      guard i < bytes.count, isDigit(bytes[i]) else { return false }
      while i < bytes.count, isDigit(bytes[i]) { i += 1 }
    }
    if i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") {
      i += 1
      if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
      guard i < bytes.count, isDigit(bytes[i]) else { return false }
      while i < bytes.count, isDigit(bytes[i]) { i += 1 }
    }
    return true
  }
  while true {
    while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    if state == .separatorOrClose, containers.isEmpty {
      return i == bytes.count ? nil : failure("unexpected \(character()) after the JSON value")
    }
    guard i < bytes.count else { return failure("the file ends inside the JSON value") }
    let byte = bytes[i]
    switch state {
    case .valueOrClose where byte == UInt8(ascii: "]"), .keyOrClose where byte == UInt8(ascii: "}"):
      containers.removeLast()
      i += 1
      state = .separatorOrClose
    case .value, .valueOrClose:
      switch byte {
      case UInt8(ascii: "{"), UInt8(ascii: "["):
        containers.append(byte)
        i += 1
        state = byte == UInt8(ascii: "{") ? .keyOrClose : .valueOrClose
      case UInt8(ascii: "\""):
        guard skipString() else { return failure("unterminated or malformed string") }
        state = .separatorOrClose
      case UInt8(ascii: "-"), 0x30...0x39:
        guard skipNumber() else { return failure("malformed number") }
        state = .separatorOrClose
      default:
        guard
          let literal = ["true", "false", "null"].first(where: {
            bytes[i...].starts(with: $0.utf8)
          })
        else { return failure("unexpected \(character()) where a value should be") }
        i += literal.utf8.count
        state = .separatorOrClose
      }
    case .key, .keyOrClose:
      guard byte == UInt8(ascii: "\"") else {
        return failure("unexpected \(character()) where a quoted key should be")
      }
      guard skipString() else { return failure("unterminated or malformed key") }
      state = .colon
    case .colon:
      guard byte == UInt8(ascii: ":") else { return failure("expected ':' after the key") }
      i += 1
      state = .value
    case .separatorOrClose:
      let open = containers[containers.count - 1]
      if byte == UInt8(ascii: ",") {
        i += 1
        state = open == UInt8(ascii: "{") ? .key : .value
      } else if byte == (open == UInt8(ascii: "{") ? UInt8(ascii: "}") : UInt8(ascii: "]")) {
        containers.removeLast()
        i += 1
      } else {
        return failure(
          "expected ',' or the end of the \(open == UInt8(ascii: "{") ? "object" : "array")")
      }
    }
  }
}
