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
    if let type = try c.string("model_type"), type != "llama" {
      throw LlamaConfigError.invalid(key: "model_type", "expected \"llama\", got \"\(type)\"")
    }
    if let act = try c.string("hidden_act"), act != "silu" {
      throw LlamaConfigError.invalid(
        key: "hidden_act", "only \"silu\" is supported, got \"\(act)\"")
    }
    for key in ["attention_bias", "mlp_bias"] where try c.boolean(key) == true {
      throw LlamaConfigError.invalid(key: key, "biases are not supported")
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
      maxPositions: try c.integer("max_position_embeddings") ?? 2048,
      rmsNormEps: Float(try c.number("rms_norm_eps") ?? 1e-6),
      ropeTheta: theta, ropeScaling: scaling,
      tieWordEmbeddings: try c.boolean("tie_word_embeddings") ?? false,
      bosTokenId: try c.integer("bos_token_id"), eosTokenIds: eos,
      padTokenId: try c.integer("pad_token_id"),
      initializerRange: Float(try c.number("initializer_range") ?? 0.02))
    try validate()
  }

  /// Encodes the Hugging Face keys `LlamaForCausalLM` and llama.cpp's converter read, writing
  /// `tie_word_embeddings` explicitly and RoPE settings in both the old and the new spelling.
  public func encode(to encoder: any Encoder) throws {
    var c = encoder.container(keyedBy: ConfigKey.self)
    try c.encode(["LlamaForCausalLM"], forKey: ConfigKey("architectures"))
    try c.encode("llama", forKey: ConfigKey("model_type"))
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
    try c.encode(false, forKey: ConfigKey("attention_bias"))
    try c.encode(false, forKey: ConfigKey("mlp_bias"))
    try c.encode(0.0, forKey: ConfigKey("attention_dropout"))
    try c.encode(1, forKey: ConfigKey("pretraining_tp"))
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
