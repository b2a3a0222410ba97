import Foundation

/// RoPE frequency scaling, as transformers' `rope_parameters` / `rope_scaling` `rope_type`.
public enum RopeScaling: Sendable, Equatable {
  /// Positions divided by `factor` (`"linear"`).
  case linear(factor: Double)
  /// Dynamic NTK: the base grows with the sequence length (`"dynamic"`).
  case dynamic(factor: Double, originalMaxPositions: Int?)
  /// Llama 3.1 frequency-band scaling (`"llama3"`).
  case llama3(
    factor: Double, lowFrequencyFactor: Double, highFrequencyFactor: Double,
    originalMaxPositions: Int)
}

/// The Hugging Face model families that share the Llama decoder (`model_type`).
public enum LlamaArchitecture: String, Sendable, Equatable, CaseIterable {
  /// `LlamaForCausalLM`: no biases unless `attention_bias` (then on q, k, v and o).
  case llama
  /// `MistralForCausalLM` without a sliding window: the Llama decoder under another name.
  case mistral
  /// `Qwen2ForCausalLM`: biases on the q, k and v projections.
  case qwen2

  /// The `architectures` entry of `config.json`.
  public var className: String {
    switch self {
    case .llama: "LlamaForCausalLM"
    case .mistral: "MistralForCausalLM"
    case .qwen2: "Qwen2ForCausalLM"
    }
  }
}

/// A Llama architecture, with Hugging Face `config.json` key names.
///
/// Decoding validates every value and names the key of the first bad one; both the older
/// top-level `rope_theta`/`rope_scaling` and the newer `rope_parameters` are accepted.
public struct LlamaConfig: Sendable, Equatable {
  /// Vocabulary size (`vocab_size`).
  public var vocabSize: Int
  /// Model width (`hidden_size`).
  public var hiddenSize: Int
  /// MLP width (`intermediate_size`).
  public var intermediateSize: Int
  /// Number of decoder layers (`num_hidden_layers`).
  public var layerCount: Int
  /// Query heads (`num_attention_heads`).
  public var headCount: Int
  /// Key/value heads (`num_key_value_heads`); fewer than `headCount` means grouped-query attention.
  public var kvHeadCount: Int
  /// Width of one head (`head_dim`; default `hiddenSize / headCount`).
  public var headDim: Int
  /// Longest position the RoPE tables cover (`max_position_embeddings`).
  public var maxPositions: Int
  /// RMSNorm epsilon (`rms_norm_eps`).
  public var rmsNormEps: Float
  /// RoPE base (`rope_theta`).
  public var ropeTheta: Double
  /// RoPE scaling, if any.
  public var ropeScaling: RopeScaling?
  /// Whether `lm_head` shares the embedding matrix (`tie_word_embeddings`).
  public var tieWordEmbeddings: Bool
  /// Beginning-of-sequence id (`bos_token_id`).
  public var bosTokenId: Int?
  /// End-of-sequence ids (`eos_token_id`, a number or a list).
  public var eosTokenIds: [Int]
  /// Padding id (`pad_token_id`).
  public var padTokenId: Int?
  /// Standard deviation of the initial weights (`initializer_range`).
  public var initializerRange: Float
  /// The family (`model_type`); with ``attentionBias`` it decides which projections have biases.
  public var architecture: LlamaArchitecture = .llama
  /// Llama's `attention_bias`: biases on the q, k, v and o projections (Qwen2's q/k/v biases
  /// come with ``LlamaArchitecture/qwen2`` and need no flag).
  public var attentionBias: Bool = false

  /// The attention projections that carry a bias (`"q_proj"`, …), in Hugging Face order.
  public var biasedProjections: [String] {
    switch architecture {
    case .qwen2: ["q_proj", "k_proj", "v_proj"]
    case .llama where attentionBias: ["q_proj", "k_proj", "v_proj", "o_proj"]
    case .llama, .mistral: []
    }
  }

  /// A configuration; call `validate()` (or decode) to check it.
  public init(
    vocabSize: Int, hiddenSize: Int, intermediateSize: Int, layerCount: Int, headCount: Int,
    kvHeadCount: Int? = nil, headDim: Int? = nil, maxPositions: Int = 2048,
    rmsNormEps: Float = 1e-5, ropeTheta: Double = 10_000, ropeScaling: RopeScaling? = nil,
    tieWordEmbeddings: Bool = false, bosTokenId: Int? = nil, eosTokenIds: [Int] = [],
    padTokenId: Int? = nil, initializerRange: Float = 0.02
  ) {
    self.vocabSize = vocabSize
    self.hiddenSize = hiddenSize
    self.intermediateSize = intermediateSize
    self.layerCount = layerCount
    self.headCount = headCount
    self.kvHeadCount = kvHeadCount ?? headCount
    self.headDim = headDim ?? (headCount > 0 ? hiddenSize / headCount : 0)
    self.maxPositions = maxPositions
    self.rmsNormEps = rmsNormEps
    self.ropeTheta = ropeTheta
    self.ropeScaling = ropeScaling
    self.tieWordEmbeddings = tieWordEmbeddings
    self.bosTokenId = bosTokenId
    self.eosTokenIds = eosTokenIds
    self.padTokenId = padTokenId
    self.initializerRange = initializerRange
  }

  /// Query heads per key/value head.
  public var groupSize: Int { headCount / kvHeadCount }

  /// Checks every value; the error names the first bad key.
  public func validate() throws(LlamaConfigError) {
    func positive(_ value: Int, _ key: String) throws(LlamaConfigError) {
      if value <= 0 { throw .invalid(key: key, "must be a positive integer, got \(value)") }
    }
    func bounded(_ value: Int, _ key: String, _ limit: Int) throws(LlamaConfigError) {
      if value > limit { throw .invalid(key: key, "\(value) exceeds the limit \(limit)") }
    }
    try positive(vocabSize, "vocab_size")
    try positive(hiddenSize, "hidden_size")
    try positive(intermediateSize, "intermediate_size")
    try positive(layerCount, "num_hidden_layers")
    try positive(headCount, "num_attention_heads")
    try positive(kvHeadCount, "num_key_value_heads")
    try positive(headDim, "head_dim")
    try positive(maxPositions, "max_position_embeddings")
    try bounded(vocabSize, "vocab_size", Self.limits.vocabSize)
    try bounded(hiddenSize, "hidden_size", Self.limits.width)
    try bounded(intermediateSize, "intermediate_size", Self.limits.width)
    try bounded(layerCount, "num_hidden_layers", Self.limits.layers)
    try bounded(headCount, "num_attention_heads", Self.limits.heads)
    try bounded(kvHeadCount, "num_key_value_heads", Self.limits.heads)
    try bounded(headDim, "head_dim", Self.limits.width)
    try bounded(maxPositions, "max_position_embeddings", Self.limits.positions)
    // The bounds above keep every product below 2⁶³; these keep the memory sane.
    if headCount * headDim > Self.limits.width {
      throw .invalid(
        key: "head_dim",
        "num_attention_heads × head_dim = \(headCount) × \(headDim) exceeds \(Self.limits.width)")
    }
    if maxPositions * headDim > Self.limits.ropeTable {
      throw .invalid(
        key: "max_position_embeddings",
        "\(maxPositions) positions × head_dim \(headDim) would need RoPE tables of more than "
          + "\(Self.limits.ropeTable) values")
    }
    if parameterCount > Self.limits.parameters {
      throw .invalid(
        key: "num_hidden_layers",
        "these sizes describe \(parameterCount) parameters, more than \(Self.limits.parameters)")
    }
    if headCount % kvHeadCount != 0 {
      throw .invalid(
        key: "num_key_value_heads",
        "\(kvHeadCount) key/value heads do not divide num_attention_heads \(headCount)")
    }
    if headDim % 2 != 0 {
      throw .invalid(key: "head_dim", "RoPE needs an even head dimension, got \(headDim)")
    }
    if !(rmsNormEps > 0) || !rmsNormEps.isFinite {
      throw .invalid(key: "rms_norm_eps", "must be a positive number, got \(rmsNormEps)")
    }
    // The tables are computed from the base as a Float (as PyTorch rounds it), so it must be
    // finite and above 1 there: a base ≤ 1 gives no rotation or infinite frequencies.
    if !(Float(ropeTheta) > 1) || !Float(ropeTheta).isFinite {
      throw .invalid(key: "rope_theta", "must be a finite number > 1, got \(ropeTheta)")
    }
    if attentionBias && architecture != .llama {
      throw .invalid(
        key: "attention_bias",
        "only model_type llama has this flag (\(architecture.rawValue) fixes its biases)")
    }
    if !(initializerRange >= 0) || !initializerRange.isFinite {
      throw .invalid(key: "initializer_range", "must be ≥ 0, got \(initializerRange)")
    }
    switch ropeScaling {
    case .linear(let factor), .dynamic(let factor, _), .llama3(let factor, _, _, _):
      if !(factor >= 1) || !Float(factor).isFinite {
        throw .invalid(key: "rope_parameters.factor", "must be ≥ 1, got \(factor)")
      }
    case nil: break
    }
    if case .llama3(_, let low, let high, let original) = ropeScaling {
      if !(low > 0) || !(high > low) || !Float(high).isFinite {
        throw .invalid(
          key: "rope_parameters.high_freq_factor",
          "need 0 < low_freq_factor < high_freq_factor, got \(low), \(high)")
      }
      try positive(original, "rope_parameters.original_max_position_embeddings")
      try bounded(
        original, "rope_parameters.original_max_position_embeddings", Self.limits.positions)
    }
    if case .dynamic(_, let original?) = ropeScaling {
      try positive(original, "rope_parameters.original_max_position_embeddings")
      try bounded(
        original, "rope_parameters.original_max_position_embeddings", Self.limits.positions)
    }
    for (key, id) in [("bos_token_id", bosTokenId), ("pad_token_id", padTokenId)] {
      if let id, id < 0 || id >= vocabSize {
        throw .invalid(key: key, "\(id) is outside the vocabulary 0..<\(vocabSize)")
      }
    }
    for id in eosTokenIds where id < 0 || id >= vocabSize {
      throw .invalid(key: "eos_token_id", "\(id) is outside the vocabulary 0..<\(vocabSize)")
    }
  }

  /// The largest sizes ``validate()`` accepts: far above any published Llama, low enough that
  /// no size product overflows and no table asks for absurd memory.
  public static let limits = Limits()

  /// Upper bounds of the sizes in a configuration.
  public struct Limits: Sendable {
    /// `vocab_size` (ids are 32-bit).
    public let vocabSize = 1 << 24
    /// `hidden_size`, `intermediate_size`, `head_dim`, and heads × `head_dim`.
    public let width = 1 << 20
    /// `num_hidden_layers`.
    public let layers = 1 << 12
    /// `num_attention_heads`, `num_key_value_heads`.
    public let heads = 1 << 12
    /// `max_position_embeddings`.
    public let positions = 1 << 24
    /// Positions × `head_dim`: the size of the RoPE cosine and sine tables.
    public let ropeTable = 1 << 28
    /// Parameters in all (2⁴⁰: 4 TiB of Float32).
    public let parameters = 1 << 40
  }

  /// Parameters excluding the input embedding (the `N` of the 6·N FLOPs rule; includes the head).
  public var nonEmbeddingParameterCount: Int {
    let attention = hiddenSize * headCount * headDim * 2 + hiddenSize * kvHeadCount * headDim * 2
    let mlp = 3 * hiddenSize * intermediateSize
    let norms = 2 * hiddenSize
    let biasSizes = [
      "q_proj": headCount * headDim, "k_proj": kvHeadCount * headDim,
      "v_proj": kvHeadCount * headDim, "o_proj": hiddenSize,
    ]
    let biases = biasedProjections.reduce(0) { $0 + biasSizes[$1]! }
    return layerCount * (attention + mlp + norms + biases) + hiddenSize + vocabSize * hiddenSize
  }

  /// All parameters (the head counted once when tied).
  public var parameterCount: Int {
    nonEmbeddingParameterCount + (tieWordEmbeddings ? 0 : vocabSize * hiddenSize)
  }
}

/// A `config.json` value that cannot describe a Llama.
public enum LlamaConfigError: Error, CustomStringConvertible, Equatable {
  /// A key holds an unusable value.
  case invalid(key: String, String)
  /// The file could not be read or parsed.
  case unreadable(path: String, String)

  public var description: String {
    switch self {
    case .invalid(let key, let message): "config key '\(key)': \(message)"
    case .unreadable(let path, let message): "\(path): \(message)"
    }
  }
}
