import MiniAutograd
import MiniTensor

/// The weights of one decoder layer.
struct LlamaLayer {
  let qProj: Parameter
  let kProj: Parameter
  let vProj: Parameter
  let oProj: Parameter
  let gateProj: Parameter
  let upProj: Parameter
  let downProj: Parameter
  let inputNorm: Parameter
  let postAttentionNorm: Parameter
}

/// A Llama decoder (`LlamaForCausalLM`): token embedding, pre-norm decoder layers with RoPE
/// grouped-query attention and a SwiGLU MLP, a final RMSNorm and a tied or separate head.
///
/// There is one forward: on a `Tape` it records for training; without one it runs for inference,
/// optionally appending to a `KVCache`. All weights live in one `ParameterArena` under their
/// Hugging Face names.
public final class Llama: Module {
  /// The architecture.
  public let config: LlamaConfig
  /// Every weight, contiguous.
  public let arena: ParameterArena
  let embedTokens: Parameter
  let layers: [LlamaLayer]
  let norm: Parameter
  let lmHead: Parameter?
  let ropeTable: RopeTable
  /// q8_0 copies of the projection and head weights used by inference, when quantized.
  let quantizedWeights: QuantizedWeights?

  /// Whether the model has logits: `false` for a trunk built without `lm_head`.
  public let hasLanguageModelHead: Bool

  /// A model with fresh weights initialised as the seeds do: normal(0, `initializerRange`) for
  /// embeddings and projections, the residual projections (`o_proj`, `down_proj`) scaled by
  /// `1/sqrt(2·layers)`, norms at 1.
  /// - Parameters:
  ///   - languageModelHead: `false` leaves out `lm_head.weight` (an untied model then has no
  ///     logits: only `hiddenStates(_:batch:tape:cache:)` may be used), for a trunk under a task
  ///     head as in `LlamaForSequenceClassification`.
  ///   - additionalParameters: weights declared after the decoder's in the same arena (so one
  ///     optimizer trains them together), initialised after them from the same generator.
  /// - Precondition: `config` is valid (`try config.validate()`).
  public init(
    config: LlamaConfig, seed: UInt64 = 0, languageModelHead: Bool = true,
    additionalParameters: [AdditionalParameter] = []
  ) {
    precondition((try? config.validate()) != nil, "Llama: invalid config \(config)")
    self.config = config
    hasLanguageModelHead = languageModelHead || config.tieWordEmbeddings
    var builder = ParameterArena.Builder()
    let std = config.initializerRange
    let residualStd = std / Float(2 * config.layerCount).squareRoot()
    let shapes = Dictionary(uniqueKeysWithValues: config.tensorShapes.map { ($0.name, $0.shape) })
    func declare(_ name: String, _ initializer: ParameterInitializer) -> Parameter {
      builder.declare(name, shape: shapes[name]!, initializer: initializer)
    }
    embedTokens = declare("model.embed_tokens.weight", .normal(standardDeviation: std))
    var layers: [LlamaLayer] = []
    for i in 0..<config.layerCount {
      let p = "model.layers.\(i)."
      layers.append(
        LlamaLayer(
          qProj: declare(p + "self_attn.q_proj.weight", .normal(standardDeviation: std)),
          kProj: declare(p + "self_attn.k_proj.weight", .normal(standardDeviation: std)),
          vProj: declare(p + "self_attn.v_proj.weight", .normal(standardDeviation: std)),
          oProj: declare(p + "self_attn.o_proj.weight", .normal(standardDeviation: residualStd)),
          gateProj: declare(p + "mlp.gate_proj.weight", .normal(standardDeviation: std)),
          upProj: declare(p + "mlp.up_proj.weight", .normal(standardDeviation: std)),
          downProj: declare(p + "mlp.down_proj.weight", .normal(standardDeviation: residualStd)),
          inputNorm: declare(p + "input_layernorm.weight", .ones),
          postAttentionNorm: declare(p + "post_attention_layernorm.weight", .ones)))
    }
    self.layers = layers
    norm = declare("model.norm.weight", .ones)
    lmHead =
      config.tieWordEmbeddings || !languageModelHead
      ? nil : declare("lm_head.weight", .normal(standardDeviation: std))
    for extra in additionalParameters {
      _ = builder.declare(extra.name, shape: extra.shape, initializer: extra.initializer)
    }
    var rng = PhiloxRNG(seed: seed)
    arena = builder.build(using: &rng)
    ropeTable = RopeTable(
      headDim: config.headDim, maxPositions: config.maxPositions, theta: Float(config.ropeTheta),
      scaling: config.ropeScaling.map { $0.kind(maxPositions: config.maxPositions) } ?? .none)
    quantizedWeights = nil
  }

  /// A model sharing `other`'s weights (same arena), with `quantized` weights for inference.
  init(sharing other: Llama, quantized: QuantizedWeights?) {
    config = other.config
    hasLanguageModelHead = other.hasLanguageModelHead
    arena = other.arena
    embedTokens = other.embedTokens
    layers = other.layers
    norm = other.norm
    lmHead = other.lmHead
    ropeTable = other.ropeTable
    quantizedWeights = quantized
  }

  /// Visits every weight in Hugging Face order.
  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    for parameter in arena.parameters { try visitor(parameter) }
  }

  /// The output head (the embedding when tied).
  var head: Parameter { lmHead ?? embedTokens }

  /// Final hidden states `[batch, sequence, hiddenSize]` (after the last RMSNorm).
  /// - Parameters:
  ///   - tokens: `batch × sequence` ids, row-major.
  ///   - batch: number of sequences.
  ///   - tape: records for training when given.
  ///   - cache: for inference: the new tokens follow the cached ones and are appended to it.
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
    let (heads, kvHeads, headDim) = (config.headCount, config.kvHeadCount, config.headDim)
    let rows = batch * sequence
    var x = embedding(embedTokens.variable(on: tape), ids: tokens, shape: [rows])
    for (index, layer) in layers.enumerated() {
      let q8 = tape == nil ? quantizedWeights?.layers[index] : nil
      let h = rmsNorm(x, weight: layer.inputNorm.variable(on: tape), eps: config.rmsNormEps)
      var q = project(h, layer.qProj, q8?.q, tape: tape).reshaped([batch, sequence, heads, headDim])
      var k = project(h, layer.kProj, q8?.k, tape: tape)
        .reshaped([batch, sequence, kvHeads, headDim])
      let v = project(h, layer.vProj, q8?.v, tape: tape)
        .reshaped([batch, sequence, kvHeads, headDim])
      q = rope(q, table: ropeTable, startPosition: start)
      k = rope(k, table: ropeTable, startPosition: start)
      let attention: Variable
      if let cache {
        // The same attention, reading the preallocated cache in place (decode kernel for one
        // new token).
        cache.write(layer: index, keys: k.value, values: v.value, at: start)
        attention = causalAttention(
          q: q, keyCache: cache.keyBuffer(layer: index),
          valueCache: cache.valueBuffer(layer: index),
          startPosition: start)
      } else {
        attention = causalAttention(q: q, k: k, v: v)
      }
      let mixed = attention.reshaped([rows, heads * headDim])
      x = x + project(mixed, layer.oProj, q8?.o, tape: tape)
      let h2 = rmsNorm(
        x, weight: layer.postAttentionNorm.variable(on: tape), eps: config.rmsNormEps)
      let gate = project(h2, layer.gateProj, q8?.gate, tape: tape)
      let up = project(h2, layer.upProj, q8?.up, tape: tape)
      x = x + project(swiglu(gate: gate, up: up), layer.downProj, q8?.down, tape: tape)
    }
    cache?.advance(by: sequence)
    return rmsNorm(x, weight: norm.variable(on: tape), eps: config.rmsNormEps)
      .reshaped([batch, sequence, config.hiddenSize])
  }

  /// Logits `[batch, sequence, vocabSize]`; see `hiddenStates(_:batch:tape:cache:)`.
  public func callAsFunction(
    _ tokens: [Int32], batch: Int = 1, tape: Tape? = nil, cache: KVCache? = nil
  ) -> Variable {
    let hidden = hiddenStates(tokens, batch: batch, tape: tape, cache: cache)
    let (b, t) = (hidden.shape[0], hidden.shape[1])
    return logits(hidden.reshaped([b * t, config.hiddenSize]), tape: tape)
      .reshaped([b, t, config.vocabSize])
  }

  /// The head applied to hidden states `[rows, hiddenSize]`: logits `[rows, vocabSize]`.
  func logits(_ hidden: Variable, tape: Tape?) -> Variable {
    precondition(hasLanguageModelHead, "Llama: this trunk was built without lm_head; no logits")
    return project(hidden, head, tape == nil ? quantizedWeights?.head : nil, tape: tape)
  }

  /// `x · Wᵀ`: from the q8_0 copy of the weight when inference has one, else through the tape.
  private func project(
    _ x: Variable, _ weight: Parameter, _ quantized: Q8Matrix?, tape: Tape?
  ) -> Variable {
    if let quantized, tape == nil, x.tape == nil { return Variable(quantized.linear(x.value)) }
    return linear(x, weight.variable(on: tape))
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
