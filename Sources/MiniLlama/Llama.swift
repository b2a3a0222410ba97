import MiniAutograd
import MiniTensor

/// A Llama decoder (`LlamaForCausalLM`): token embedding, pre-norm decoder blocks with RoPE
/// grouped-query attention and a SwiGLU MLP, a final RMSNorm and a tied or separate head.
///
/// There is one forward, embed → blocks → norm → head: on a `Tape` it records for training;
/// without one it runs for inference, optionally appending to a `KVCache`. All `Float` weights
/// live in one `ParameterArena` under their Hugging Face names; each projection and the head is
/// a ``LinearWeight`` whose representation (`Float`, q8_0) is chosen when the model is loaded or
/// converted (``quantized()``).
public final class Llama: Module {
  /// The architecture.
  public let config: LlamaConfig
  /// Every weight, contiguous.
  public let arena: ParameterArena
  /// `model.embed_tokens`, `[vocabSize, hiddenSize]`.
  let embedTokens: Parameter
  /// The decoder layers, in order.
  public let blocks: [LlamaBlock]
  /// `model.norm`.
  let norm: LlamaRMSNorm
  /// `lm_head` (the embedding when tied); `nil` for a trunk built without it.
  let head: LinearWeight?

  /// Whose roundings inference follows: `transformers`' for models of Hugging Face
  /// directories, llama.cpp's for GGUF files (``forInference(directory:)``), which also makes
  /// ``makeCache(batch:capacity:)`` keep keys and values in half precision as llama.cpp does.
  public let arithmetic: InferenceArithmetic

  /// Whether the model has logits: `false` for a trunk built without `lm_head`.
  public var hasLanguageModelHead: Bool { head != nil }

  /// A model with fresh weights initialised as nanoGPT and baby-llama2-chinese do:
  /// normal(0, `initializerRange`) for embeddings and projections, the residual projections
  /// (`o_proj`, `down_proj`) scaled by `1/sqrt(2·layers)`, norms at 1.
  /// - Parameters:
  ///   - languageModelHead: `false` leaves out `lm_head.weight` (an untied model then has no
  ///     logits: only `hiddenStates(_:batch:tape:cache:)` may be used), for a trunk under a task
  ///     head as in `LlamaForSequenceClassification`.
  ///   - additionalParameters: weights declared after the decoder's in the same arena (so one
  ///     optimizer trains them together), initialised after them from the same generator.
  /// - Precondition: `config` is valid (`try config.validate()`).
  public convenience init(
    config: LlamaConfig, seed: UInt64 = 0, languageModelHead: Bool = true,
    additionalParameters: [AdditionalParameter] = []
  ) {
    self.init(
      config: config, seed: seed, languageModelHead: languageModelHead,
      additionalParameters: additionalParameters, provided: [:])
  }

  /// A model whose projections and head named in `provided` are used as they are, outside the
  /// arena (a GGUF file's blocks: the arena then holds no `Float` copy of them); the other
  /// weights as ``init(config:seed:languageModelHead:additionalParameters:)`` makes them. A tied
  /// head is provided under `model.embed_tokens.weight`.
  init(
    config: LlamaConfig, seed: UInt64, languageModelHead: Bool,
    additionalParameters: [AdditionalParameter], provided: [String: LinearWeight],
    arithmetic: InferenceArithmetic = .transformers, ropeFrequencyFactors: [Float]? = nil
  ) {
    precondition((try? config.validate()) != nil, "Llama: invalid config \(config)")
    self.config = config
    self.arithmetic = arithmetic
    var builder = ParameterArena.Builder()
    let normal = ParameterInitializer.normal(standardDeviation: config.initializerRange)
    let shapes = Dictionary(uniqueKeysWithValues: config.tensorShapes.map { ($0.name, $0.shape) })
    func declare(_ name: String, _ initializer: ParameterInitializer) -> Parameter {
      builder.declare(name, shape: shapes[name]!, initializer: initializer)
    }
    let scaling = config.ropeScaling.map { $0.kind(maxPositions: config.maxPositions) } ?? .none
    let ropeTable: RopeTable
    switch arithmetic {
    case .transformers:
      ropeTable = RopeTable(
        headDim: config.headDim, maxPositions: config.maxPositions,
        theta: Float(config.ropeTheta), scaling: scaling)
    case .llamaCpp:
      var factors = ropeFrequencyFactors
      var linear = scaling
      if case .llama3 = scaling {
        factors = factors ?? ModelDirectory.llama3RopeFactors(config).scalars
        linear = .none
      }
      ropeTable = RopeTable(
        llamaCppHeadDim: config.headDim, maxPositions: config.maxPositions,
        theta: Float(config.ropeTheta), scaling: linear, frequencyFactors: factors)
    }
    embedTokens = declare("model.embed_tokens.weight", normal)
    blocks = (0..<config.layerCount).map {
      LlamaBlock(
        index: $0, config: config, ropeTable: ropeTable, declare: declare, provided: provided)
    }
    norm = LlamaRMSNorm(weight: declare("model.norm.weight", .ones), eps: config.rmsNormEps)
    if config.tieWordEmbeddings {
      head = provided["model.embed_tokens.weight"] ?? .dense(embedTokens)
    } else if languageModelHead {
      head = provided["lm_head.weight"] ?? .dense(declare("lm_head.weight", normal))
    } else {
      head = nil
    }
    for extra in additionalParameters {
      _ = builder.declare(extra.name, shape: extra.shape, initializer: extra.initializer)
    }
    var rng = PhiloxRNG(seed: seed)
    arena = builder.build(using: &rng)
  }

  /// A model sharing `other`'s arena, with its own projections and head.
  init(sharing other: Llama, blocks: [LlamaBlock], head: LinearWeight?) {
    config = other.config
    arithmetic = other.arithmetic
    arena = other.arena
    embedTokens = other.embedTokens
    self.blocks = blocks
    norm = other.norm
    self.head = head
  }

  /// An empty cache for this model, keeping keys and values as its arithmetic does: in half
  /// precision for llama.cpp's, in `Float` for `transformers`'.
  /// - Parameters:
  ///   - batch: sequences.
  ///   - capacity: positions (default: `maxPositions`).
  public func makeCache(batch: Int = 1, capacity: Int? = nil) -> KVCache {
    KVCache(
      config: config, batch: batch, capacity: capacity,
      precision: arithmetic == .llamaCpp ? .f16 : .f32)
  }

  /// Visits every weight in Hugging Face order.
  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    for parameter in arena.parameters { try visitor(parameter) }
  }

  /// Final hidden states `[batch, sequence, hiddenSize]` (after the last RMSNorm).
  /// - Parameters:
  ///   - tokens: `batch × sequence` ids, row-major.
  ///   - batch: number of sequences.
  ///   - tape: records for training when given.
  ///   - cache: for inference: the new tokens follow the cached ones and are appended to it.
  /// - Precondition: with a tape, every weight is trainable (``isTrainable``).
  public func hiddenStates(
    _ tokens: [Int32], batch: Int = 1, tape: Tape? = nil, cache: KVCache? = nil
  ) -> Variable {
    precondition(
      batch > 0 && tokens.count % batch == 0, "Llama: \(tokens.count) tokens in \(batch) rows")
    let sequence = tokens.count / batch
    let start = cache?.length ?? 0
    precondition(
      start + sequence <= config.maxPositions,
      "Llama: positions \(start)..<\(start + sequence) exceed max_position_embeddings \(config.maxPositions)"
    )
    if let cache {
      precondition(cache.batch == batch, "Llama: cache for batch \(cache.batch), not \(batch)")
      precondition(tape == nil, "Llama: a KV cache is for inference; pass no tape")
    }
    var x = embedding(embedTokens.variable(on: tape), ids: tokens, shape: [batch, sequence])
    for block in blocks {
      x = block(x, startPosition: start, cache: cache, tape: tape)
    }
    cache?.advance(by: sequence)
    return norm(x, tape: tape)
  }

  /// Logits `[batch, sequence, vocabSize]`; see `hiddenStates(_:batch:tape:cache:)`.
  public func callAsFunction(
    _ tokens: [Int32], batch: Int = 1, tape: Tape? = nil, cache: KVCache? = nil
  ) -> Variable {
    logits(hiddenStates(tokens, batch: batch, tape: tape, cache: cache), tape: tape)
  }

  /// The head applied to hidden states `[…, hiddenSize]`: logits `[…, vocabSize]` (a value
  /// head or another task head may read the same hidden states).
  public func logits(_ hidden: Variable, tape: Tape?) -> Variable {
    guard let head else {
      preconditionFailure("Llama: this trunk was built without lm_head; no logits")
    }
    return head(hidden, tape: tape)
  }

  /// Mean next-token cross-entropy of `tokens` (`batch` rows): position `t` predicts `t + 1`.
  public func languageModelLoss(_ tokens: [Int32], batch: Int = 1, tape: Tape? = nil) -> Variable {
    let sequence = tokens.count / batch
    let logits = self(tokens, batch: batch, tape: tape)
    var targets = [Int32](repeating: -100, count: tokens.count)
    for b in 0..<batch {
      for t in 0..<(sequence - 1) { targets[b * sequence + t] = tokens[b * sequence + t + 1] }
    }
    return crossEntropy(
      logits: logits.reshaped([tokens.count, config.vocabSize]), targets: targets)
  }
}

extension RopeScaling {
  /// The kernel's form of this scaling.
  func kind(maxPositions: Int) -> RopeScalingKind {
    switch self {
    case .linear(let factor): .linear(factor: factor)
    case .dynamic(let factor, let original):
      .dynamicNTK(factor: factor, originalMaxPositions: original ?? maxPositions)
    case .llama3(let factor, let low, let high, let original):
      .llama3(
        factor: factor, lowFreqFactor: low, highFreqFactor: high, originalMaxPositions: original)
    }
  }
}
