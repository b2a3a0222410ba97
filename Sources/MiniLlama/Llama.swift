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

  /// A model with fresh weights initialised as the seeds do: normal(0, `initializerRange`) for
  /// embeddings and projections, the residual projections (`o_proj`, `down_proj`) scaled by
  /// `1/sqrt(2·layers)`, norms at 1.
  /// - Precondition: `config` is valid (`try config.validate()`).
  public init(config: LlamaConfig, seed: UInt64 = 0) {
    precondition((try? config.validate()) != nil, "Llama: invalid config \(config)")
    self.config = config
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
      config.tieWordEmbeddings ? nil : declare("lm_head.weight", .normal(standardDeviation: std))
    var rng = PhiloxRNG(seed: seed)
    arena = builder.build(using: &rng)
    ropeTable = RopeTable(
      headDim: config.headDim, maxPositions: config.maxPositions, theta: Float(config.ropeTheta),
      scaling: config.ropeScaling.map { $0.kind(maxPositions: config.maxPositions) } ?? .none)
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
      let h = rmsNorm(x, weight: layer.inputNorm.variable(on: tape), eps: config.rmsNormEps)
      var q = linear(h, layer.qProj.variable(on: tape)).reshaped([batch, sequence, heads, headDim])
      var k = linear(h, layer.kProj.variable(on: tape)).reshaped([
        batch, sequence, kvHeads, headDim,
      ])
      var v = linear(h, layer.vProj.variable(on: tape)).reshaped([
        batch, sequence, kvHeads, headDim,
      ])
      q = rope(q, table: ropeTable, startPosition: start)
      k = rope(k, table: ropeTable, startPosition: start)
      if let cache {
        cache.write(layer: index, keys: k.value, values: v.value, at: start)
        k = Variable(cache.keys(layer: index, length: start + sequence))
        v = Variable(cache.values(layer: index, length: start + sequence))
      }
      let attention = causalAttention(q: q, k: k, v: v).reshaped([rows, heads * headDim])
      x = x + linear(attention, layer.oProj.variable(on: tape))
      let h2 = rmsNorm(
        x, weight: layer.postAttentionNorm.variable(on: tape), eps: config.rmsNormEps)
      let gate = linear(h2, layer.gateProj.variable(on: tape))
      let up = linear(h2, layer.upProj.variable(on: tape))
      x = x + linear(swiglu(gate: gate, up: up), layer.downProj.variable(on: tape))
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
    return linear(hidden.reshaped([b * t, config.hiddenSize]), head.variable(on: tape))
      .reshaped([b, t, config.vocabSize])
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
