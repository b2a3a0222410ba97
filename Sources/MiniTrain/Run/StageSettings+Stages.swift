import Foundation
import MiniLlama

/// What a pretraining run stores in `RUN/config.json` besides the training settings.
public struct PretrainSettings: StageSettings {
  public static let stage = "pretrain"
  /// The token shard folder (absolute).
  public var data: String
  /// Tokens in the data (checked on resume).
  public var dataTokens: Int
  /// SHA-256 of the data's tokenizer (checked on resume).
  public var tokenizerSHA256: String
  /// The preset the model came from, if any.
  public var preset: String?
  /// The model.
  public var model: LlamaConfig
  /// Tokens per training window.
  public var sequenceLength: Int
  /// The model continued (`--model`, absolute), when the run does not start from fresh weights.
  public var baseModel: String?
  /// The low-rank adapters trained on that base (`nil`: the whole model trains).
  public var lora: LoRAConfiguration?

  enum CodingKeys: String, CodingKey {
    case data, preset, model, lora
    case baseModel = "base_model"
    case dataTokens = "data_tokens"
    case tokenizerSHA256 = "tokenizer_sha256"
    case sequenceLength = "sequence_length"
  }

  /// Settings from their parts.
  public init(
    data: String, dataTokens: Int, tokenizerSHA256: String, preset: String?, model: LlamaConfig,
    sequenceLength: Int, baseModel: String? = nil, lora: LoRAConfiguration? = nil
  ) {
    self.data = data
    self.dataTokens = dataTokens
    self.tokenizerSHA256 = tokenizerSHA256
    self.preset = preset
    self.model = model
    self.sequenceLength = sequenceLength
    self.baseModel = baseModel
    self.lora = lora
  }

  public func structuralDifferences(from stored: PretrainSettings) -> [String] {
    var differences = SettingDifferences()
    differences.compare("--preset/--config (model)", model, stored.model)
    differences.compare("--data (tokens)", dataTokens, stored.dataTokens)
    differences.compare("--data (tokenizer)", tokenizerSHA256, stored.tokenizerSHA256)
    differences.compare("--seq-len", sequenceLength, stored.sequenceLength)
    differences.compare("--model", baseModel, stored.baseModel)
    differences.compare("--lora-…", lora, stored.lora)
    return differences.lines
  }
}

/// What a fine-tuning run (`sft`, `reward`, `dpo`) stores about its starting model and data in
/// `RUN/config.json`: the count of the data is stored as `data_samples` (SFT shards) or
/// `data_pairs` (preference shards).
public struct FineTuneDataSettings: Codable, Equatable, Sendable {
  /// What the data is counted in.
  public enum Unit: String, Codable, Sendable {
    case samples, pairs
  }

  /// `--model`, absolute.
  public var baseModel: String
  /// The base model's architecture (checked on resume).
  public var model: LlamaConfig
  /// `--data`, absolute.
  public var data: String
  /// What ``dataCount`` counts.
  public var unit: Unit
  /// Samples or pairs in the data (checked on resume).
  public var dataCount: Int
  /// Tokens in the data (checked on resume).
  public var dataTokens: Int
  /// SHA-256 of the data's tokenizer (checked on resume).
  public var tokenizerSHA256: String
  /// Samples are cut to this many tokens; pairs longer than it are left out.
  public var maxLength: Int
  /// The low-rank adapters trained on the frozen base (`nil`: the whole model trains).
  public var lora: LoRAConfiguration?

  enum CodingKeys: String, CodingKey {
    case model, data, lora
    case baseModel = "base_model"
    case dataSamples = "data_samples"
    case dataPairs = "data_pairs"
    case dataTokens = "data_tokens"
    case tokenizerSHA256 = "tokenizer_sha256"
    case maxLength = "max_length"
  }

  /// Settings from their parts.
  public init(
    baseModel: String, model: LlamaConfig, data: String, unit: Unit, dataCount: Int,
    dataTokens: Int, tokenizerSHA256: String, maxLength: Int, lora: LoRAConfiguration? = nil
  ) {
    self.baseModel = baseModel
    self.model = model
    self.data = data
    self.unit = unit
    self.dataCount = dataCount
    self.dataTokens = dataTokens
    self.tokenizerSHA256 = tokenizerSHA256
    self.maxLength = maxLength
    self.lora = lora
  }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    baseModel = try container.decode(String.self, forKey: .baseModel)
    model = try container.decode(LlamaConfig.self, forKey: .model)
    data = try container.decode(String.self, forKey: .data)
    if container.contains(.dataPairs) {
      unit = .pairs
      dataCount = try container.decode(Int.self, forKey: .dataPairs)
    } else {
      unit = .samples
      dataCount = try container.decode(Int.self, forKey: .dataSamples)
    }
    dataTokens = try container.decode(Int.self, forKey: .dataTokens)
    tokenizerSHA256 = try container.decode(String.self, forKey: .tokenizerSHA256)
    maxLength = try container.decode(Int.self, forKey: .maxLength)
    lora = try container.decodeIfPresent(LoRAConfiguration.self, forKey: .lora)
    try lora?.validate()
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(baseModel, forKey: .baseModel)
    try container.encode(model, forKey: .model)
    try container.encode(data, forKey: .data)
    try container.encode(dataCount, forKey: unit == .pairs ? .dataPairs : .dataSamples)
    try container.encode(dataTokens, forKey: .dataTokens)
    try container.encode(tokenizerSHA256, forKey: .tokenizerSHA256)
    try container.encode(maxLength, forKey: .maxLength)
    try container.encodeIfPresent(lora, forKey: .lora)
  }

  /// The differences that stop a resumed run from continuing exactly.
  public func structuralDifferences(from stored: FineTuneDataSettings) -> [String] {
    var differences = SettingDifferences()
    differences.compare("--model (config.json)", model, stored.model)
    differences.compare("--data (\(unit.rawValue))", dataCount, stored.dataCount)
    differences.compare("--data (tokens)", dataTokens, stored.dataTokens)
    differences.compare("--data (tokenizer)", tokenizerSHA256, stored.tokenizerSHA256)
    differences.compare("--max-length", maxLength, stored.maxLength)
    differences.compare("--lora-…", lora, stored.lora)
    return differences.lines
  }
}

/// The stage settings of `sft` and `reward`: the starting model and the data alone.
public protocol FineTuneStageSettings: StageSettings {
  /// The starting model and data.
  var data: FineTuneDataSettings { get }
  /// Settings of `data`.
  init(data: FineTuneDataSettings)
}

extension FineTuneStageSettings {
  public init(from decoder: any Decoder) throws {
    self.init(data: try FineTuneDataSettings(from: decoder))
  }
  public func encode(to encoder: any Encoder) throws { try data.encode(to: encoder) }
  public func structuralDifferences(from stored: Self) -> [String] {
    data.structuralDifferences(from: stored.data)
  }
}

/// What an SFT run stores in `RUN/config.json` besides the training settings.
public struct SFTSettings: FineTuneStageSettings {
  public static let stage = "sft"
  public var data: FineTuneDataSettings
  public init(data: FineTuneDataSettings) { self.data = data }
}

/// What a reward-model run stores in `RUN/config.json` besides the training settings.
public struct RewardSettings: FineTuneStageSettings {
  public static let stage = "reward"
  public var data: FineTuneDataSettings
  public init(data: FineTuneDataSettings) { self.data = data }
}

/// What a DPO run stores in `RUN/config.json` besides the training settings.
public struct DPOSettings: StageSettings {
  public static let stage = "dpo"
  /// The starting model and data.
  public var data: FineTuneDataSettings
  /// The loss.
  public var loss: DPOLoss
  /// Whether the reference log-likelihoods were computed once (`reference_logps.safetensors`)
  /// rather than by a forward of the reference model at every step.
  public var precomputeReference: Bool

  enum CodingKeys: String, CodingKey {
    case precomputeReference = "precompute_reference"
  }

  /// Settings from their parts.
  public init(data: FineTuneDataSettings, loss: DPOLoss, precomputeReference: Bool) {
    self.data = data
    self.loss = loss
    self.precomputeReference = precomputeReference
  }

  public init(from decoder: any Decoder) throws {
    data = try FineTuneDataSettings(from: decoder)
    loss = try DPOLoss(from: decoder)
    precomputeReference = try decoder.container(keyedBy: CodingKeys.self)
      .decode(Bool.self, forKey: .precomputeReference)
  }

  public func encode(to encoder: any Encoder) throws {
    try data.encode(to: encoder)
    try loss.encode(to: encoder)
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(precomputeReference, forKey: .precomputeReference)
  }

  public func structuralDifferences(from stored: DPOSettings) -> [String] {
    var result = data.structuralDifferences(from: stored.data)
    if precomputeReference != stored.precomputeReference {
      result.append(
        "--\(stored.precomputeReference ? "" : "no-")precompute-reference → "
          + "--\(precomputeReference ? "" : "no-")precompute-reference")
    }
    return result
  }
}

extension DPOSettings {
  /// The loss settings given to a DPO session, as a layer over those of the run it resumes
  /// and the defaults (sigmoid loss, β 0.1, no smoothing, reference precomputed).
  public struct Options: LayeredSettings, Sendable {
    public var kind: DPOLoss.Kind?
    public var beta: Double?
    public var labelSmoothing: Double?
    public var precompute: Bool?

    /// A layer of the settings given.
    public init(
      kind: DPOLoss.Kind? = nil, beta: Double? = nil, labelSmoothing: Double? = nil,
      precompute: Bool? = nil
    ) {
      self.kind = kind
      self.beta = beta
      self.labelSmoothing = labelSmoothing
      self.precompute = precompute
    }

    public static var fields: [SettingField<Self>] {
      [.init(\.kind), .init(\.beta), .init(\.labelSmoothing), .init(\.precompute)]
    }

    /// A new loss drops the stored label smoothing.
    public static var ties: [(dependent: SettingField<Self>, trigger: SettingField<Self>)] {
      [(.init(\.labelSmoothing), .init(\.kind))]
    }

    /// The loss and whether to precompute the reference: this layer over `stored`'s over the
    /// defaults.
    /// - Throws: ``TrainingRunError/setting(_:_:)`` for label smoothing on another loss than
    ///   sigmoid.
    public func resolve(over stored: DPOSettings?) throws -> (loss: DPOLoss, precompute: Bool) {
      let storedLayer = stored.map {
        Options(
          kind: $0.loss.kind, beta: $0.loss.beta, labelSmoothing: $0.loss.labelSmoothing,
          precompute: $0.precomputeReference)
      }
      let merged = (storedLayer.map { overlaid(on: $0) } ?? self).overlaid(
        on: Options(kind: .sigmoid, beta: 0.1, labelSmoothing: 0, precompute: true),
        applyingTies: false)
      let loss = DPOLoss(
        kind: merged.kind!, beta: merged.beta!, labelSmoothing: merged.labelSmoothing!)
      if loss.labelSmoothing != 0 && loss.kind != .sigmoid {
        throw TrainingRunError.setting(
          "--label-smoothing", "applies to --loss sigmoid only, not \(loss.kind.rawValue)")
      }
      return (loss, merged.precompute!)
    }
  }
}
