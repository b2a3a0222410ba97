import Foundation
import MiniLlama
import TestSupport
import Testing

@Suite("LlamaConfig")
struct LlamaConfigTests {
  static var base: [String: Any] {
    [
      "model_type": "llama", "vocab_size": 256, "hidden_size": 64, "intermediate_size": 176,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
      "max_position_embeddings": 128, "rms_norm_eps": 1e-5, "rope_theta": 10000.0,
      "tie_word_embeddings": false,
    ]
  }

  func decode(_ object: [String: Any]) throws -> LlamaConfig {
    let data = try JSONSerialization.data(withJSONObject: object)
    return try JSONDecoder().decode(LlamaConfig.self, from: data)
  }

  func expectKeyError(
    _ object: [String: Any], key: String, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    do {
      _ = try decode(object)
      Issue.record(
        "decoded without error; expected one naming \(key)", sourceLocation: sourceLocation)
    } catch let error as LlamaConfigError {
      guard case .invalid(let named, _) = error else {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        return
      }
      #expect(named == key, sourceLocation: sourceLocation)
      #expect(error.description.contains(key), sourceLocation: sourceLocation)
    } catch {
      Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
    }
  }

  @Test(.requires(.shared("fixtures/hf-tiny-llama/config.json")))
  func decodesTheFixtureWithRopeParameters() throws {
    let path = try requireShared("fixtures/hf-tiny-llama/config.json")
    let config = try LlamaConfig.load(contentsOf: path)
    #expect(config.vocabSize == 256)
    #expect(config.hiddenSize == 64)
    #expect(config.kvHeadCount == 2)
    #expect(config.headDim == 16)
    #expect(config.groupSize == 2)
    #expect(config.ropeTheta == 10000)
    #expect(config.ropeScaling == nil)
    #expect(config.tieWordEmbeddings == false)
    #expect(config.eosTokenIds.isEmpty && config.bosTokenId == nil)
    #expect(config.parameterCount == 125_248)
  }

  @Test func acceptsLegacyRopeThetaAndScaling() throws {
    var object = Self.base
    object["rope_theta"] = 500000.0
    object["rope_scaling"] = [
      "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
      "original_max_position_embeddings": 64,
    ]
    object["eos_token_id"] = [2, 3]
    object["num_key_value_heads"] = NSNull()
    let config = try decode(object)
    #expect(config.ropeTheta == 500000)
    #expect(config.kvHeadCount == 4)
    #expect(config.eosTokenIds == [2, 3])
    #expect(
      config.ropeScaling
        == .llama3(
          factor: 8, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 64))
  }

  @Test func encodeDecodeRoundTrips() throws {
    var config = LlamaConfig.preset(.nano, vocabSize: 1000)
    config.ropeScaling = .linear(factor: 2)
    config.eosTokenIds = [2]
    config.bosTokenId = 1
    let data = try config.jsonData()
    let decoded = try JSONDecoder().decode(LlamaConfig.self, from: data)
    #expect(decoded == config)
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    #expect(object["tie_word_embeddings"] as? Bool == false)
    #expect(object["architectures"] as? [String] == ["LlamaForCausalLM"])
  }

  @Test func presetsAreValid() throws {
    for preset in LlamaConfig.Preset.allCases {
      try LlamaConfig.preset(preset).validate()
    }
    let mini = LlamaConfig.preset(.mini)
    #expect(mini.kvHeadCount == 4 && mini.headDim == 64 && !mini.tieWordEmbeddings)
  }

  @Test(arguments: [
    ("vocab_size", "-5"), ("hidden_size", "0"), ("num_hidden_layers", "2.5"),
    ("intermediate_size", "\"wide\""), ("num_key_value_heads", "3"), ("rms_norm_eps", "-1.0"),
    ("rope_theta", "0.0"), ("hidden_act", "\"gelu\""), ("model_type", "\"gpt2\""),
    ("mlp_bias", "true"), ("eos_token_id", "999"),
  ])
  func badValuesNameTheirKey(key: String, json: String) throws {
    var object = Self.base
    object[key] = try JSONSerialization.jsonObject(
      with: Data(json.utf8), options: .fragmentsAllowed)
    expectKeyError(object, key: key)
  }

  @Test func headsMustDivideWidthAndKeysMustExist() {
    var object = Self.base
    object["num_attention_heads"] = 5
    expectKeyError(object, key: "num_attention_heads")
    object = Self.base
    object.removeValue(forKey: "vocab_size")
    expectKeyError(object, key: "vocab_size")
    object = Self.base
    object["rope_parameters"] = ["rope_type": "yarn", "factor": 2.0]
    expectKeyError(object, key: "rope_parameters.rope_type")
    object["rope_parameters"] = ["rope_type": "linear"]
    expectKeyError(object, key: "rope_parameters.factor")
  }

  @Test func unreadableFileNamesThePath() {
    do {
      _ = try LlamaConfig.load(contentsOf: "/nonexistent/config.json")
      Issue.record("expected an error")
    } catch {
      #expect(error.description.contains("/nonexistent/config.json"))
    }
  }
}
