import Foundation
import MiniTensor

extension SamplingOptions {
  /// build_MiniLLM_from_scratch's chat sampling (its `generation_config`):
  /// temperature 1, top-k 40, top-p 0.8, repetition penalty 1.1.
  public static let seedDefaults = SamplingOptions(
    temperature: 1, topK: 40, topP: 0.8, repetitionPenalty: 1.1)

  /// llama.cpp's default sampling (`llama-cli`, llama-cpp-python's chat completions):
  /// temperature 0.8, top-k 40, top-p 0.95, no repetition penalty. A GGUF file, which carries no
  /// `generation_config.json`, samples so.
  public static let llamaCppDefaults = SamplingOptions(
    temperature: 0.8, topK: 40, topP: 0.95, repetitionPenalty: 1)
}

/// The generation settings of a model directory's `generation_config.json`, as `transformers`
/// reads them: sampling (`do_sample`, `temperature`, `top_k`, `top_p`, `repetition_penalty`),
/// stop ids (`eos_token_id`, one id or a list) and `max_new_tokens`.
///
/// A key the file lacks keeps its value from `SamplingOptions.seedDefaults`, so a directory
/// whose file holds only token ids samples as build_MiniLLM_from_scratch does.
public struct GenerationConfig: Sendable, Equatable {
  /// How tokens are chosen (`do_sample: false` is greedy).
  public var sampling: SamplingOptions
  /// Generation stops at any of these.
  public var eosTokenIDs: [Int]
  /// The BOS id, if any.
  public var bosTokenID: Int?
  /// The padding id, if any.
  public var padTokenID: Int?
  /// The default number of new tokens, if the file sets one.
  public var maxNewTokens: Int?

  /// A configuration; by default build_MiniLLM_from_scratch's sampling and no stop ids.
  public init(
    sampling: SamplingOptions = .seedDefaults, eosTokenIDs: [Int] = [], bosTokenID: Int? = nil,
    padTokenID: Int? = nil, maxNewTokens: Int? = nil
  ) {
    self.sampling = sampling
    self.eosTokenIDs = eosTokenIDs
    self.bosTokenID = bosTokenID
    self.padTokenID = padTokenID
    self.maxNewTokens = maxNewTokens
  }

  /// Reads `generation_config.json` at `path`.
  /// - Throws: `ModelDirectoryError` naming the file and the key for unreadable JSON or a value
  ///   of the wrong type or range.
  public init(contentsOf path: String) throws {
    let object = try Self.readObject(path)
    func number(_ key: String) throws -> Double? {
      guard let value = object[key], !(value is NSNull) else { return nil }
      guard let number = value as? NSNumber, !Self.isBoolean(number) else {
        throw ModelDirectoryError(path: path, "'\(key)' must be a number")
      }
      return number.doubleValue
    }
    func integer(_ key: String) throws -> Int? {
      guard let value = try number(key) else { return nil }
      guard value.rounded() == value, abs(value) < 1e15 else {
        throw ModelDirectoryError(path: path, "'\(key)' must be an integer, got \(value)")
      }
      return Int(value)
    }
    var sampling = SamplingOptions.seedDefaults
    if let value = object["do_sample"], !(value is NSNull) {
      guard let flag = value as? NSNumber, Self.isBoolean(flag) else {
        throw ModelDirectoryError(path: path, "'do_sample' must be true or false")
      }
      sampling.greedy = !flag.boolValue
    }
    if let temperature = try number("temperature") {
      guard temperature > 0 else {
        throw ModelDirectoryError(path: path, "'temperature' must be > 0, got \(temperature)")
      }
      sampling.temperature = Float(temperature)
    }
    if let topK = try integer("top_k") {
      guard topK >= 0 else {
        throw ModelDirectoryError(path: path, "'top_k' must be ≥ 0, got \(topK)")
      }
      sampling.topK = topK
    }
    if let topP = try number("top_p") {
      guard topP > 0 && topP <= 1 else {
        throw ModelDirectoryError(path: path, "'top_p' must be in (0, 1], got \(topP)")
      }
      sampling.topP = Float(topP)
    }
    if let penalty = try number("repetition_penalty") {
      guard penalty > 0 else {
        throw ModelDirectoryError(path: path, "'repetition_penalty' must be > 0, got \(penalty)")
      }
      sampling.repetitionPenalty = Float(penalty)
    }
    var eos: [Int] = []
    switch object["eos_token_id"] {
    case nil, is NSNull: break
    case let list as [Any]:
      for item in list {
        guard let number = item as? NSNumber, !Self.isBoolean(number),
          let id = item as? Int, id >= 0
        else {
          throw ModelDirectoryError(path: path, "'eos_token_id' must hold non-negative ids")
        }
        eos.append(id)
      }
    default:
      guard let id = try integer("eos_token_id"), id >= 0 else {
        throw ModelDirectoryError(path: path, "'eos_token_id' must be an id or a list of ids")
      }
      eos = [id]
    }
    let maxNewTokens = try integer("max_new_tokens")
    if let maxNewTokens, maxNewTokens < 1 {
      throw ModelDirectoryError(path: path, "'max_new_tokens' must be ≥ 1, got \(maxNewTokens)")
    }
    self.init(
      sampling: sampling, eosTokenIDs: eos, bosTokenID: try integer("bos_token_id"),
      padTokenID: try integer("pad_token_id"), maxNewTokens: maxNewTokens)
  }

  /// Writes these settings into `generation_config.json` at `path` atomically, keeping the
  /// file's other keys.
  public func write(to path: String) throws {
    var object = FileManager.default.fileExists(atPath: path) ? try Self.readObject(path) : [:]
    object["do_sample"] = !sampling.greedy
    // Floats as their shortest decimal (0.8, not 0.800000011920929).
    func decimal(_ value: Float) -> Double { Double(value.description) ?? Double(value) }
    object["temperature"] = decimal(sampling.temperature)
    object["top_k"] = sampling.topK
    object["top_p"] = decimal(sampling.topP)
    object["repetition_penalty"] = decimal(sampling.repetitionPenalty)
    switch eosTokenIDs.count {
    case 0: object.removeValue(forKey: "eos_token_id")
    case 1: object["eos_token_id"] = eosTokenIDs[0]
    default: object["eos_token_id"] = eosTokenIDs
    }
    for (key, value) in [
      ("bos_token_id", bosTokenID), ("pad_token_id", padTokenID),
      ("max_new_tokens", maxNewTokens),
    ] {
      if let value { object[key] = value } else { object.removeValue(forKey: key) }
    }
    // The file no longer just mirrors config.json.
    object.removeValue(forKey: "_from_model_config")
    let data = try JSONSerialization.data(
      withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    try writeFileAtomically(to: path) { sink in
      try data.withUnsafeBytes { try sink.write($0) }
    }
  }

  /// Whether a number from `JSONSerialization` was a JSON `true` or `false` (Foundation gives
  /// both as `NSNumber`, and `is Bool` also holds for the numbers 0 and 1).
  private static func isBoolean(_ number: NSNumber) -> Bool {
    String(cString: number.objCType) == "c"
  }

  private static func readObject(_ path: String) throws -> [String: Any] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw ModelDirectoryError(path: path, "cannot read the file")
    }
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
      throw ModelDirectoryError(path: path, "not a JSON object")
    }
    return object
  }
}
