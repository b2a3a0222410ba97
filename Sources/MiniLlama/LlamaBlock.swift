import MiniAutograd
import MiniTensor

/// RMSNorm with a learned gain, as `transformers`' `LlamaRMSNorm`.
public struct LlamaRMSNorm {
  /// The gain, `[hiddenSize]`.
  public let weight: Parameter
  /// Added to the mean square.
  public let eps: Float

  /// `x · rsqrt(mean(x²) + eps) · weight` over the last axis.
  public func callAsFunction(_ x: Variable, tape: Tape?) -> Variable {
    rmsNorm(x, weight: weight.variable(on: tape), eps: eps)
  }
}

/// One pre-norm decoder layer, as `transformers`' `LlamaDecoderLayer`: self-attention then a
/// SwiGLU MLP, each behind an RMSNorm and added to the residual stream.
///
/// The same forward trains (a tape), prefills and decodes (a ``KVCache``).
/// `Docs/Block.md` pairs each of its lines with the kernels of its backward.
public struct LlamaBlock {
  /// `model.layers.{i}.input_layernorm`.
  public let inputNorm: LlamaRMSNorm
  /// `model.layers.{i}.self_attn`.
  public let attention: LlamaAttention
  /// `model.layers.{i}.post_attention_layernorm`.
  public let postAttentionNorm: LlamaRMSNorm
  /// `model.layers.{i}.mlp`.
  public let mlp: LlamaMLP

  /// The layer's output for `x` `[batch, sequence, hiddenSize]` (same shape).
  /// - Parameters:
  ///   - x: the residual stream of tokens at positions `startPosition..<startPosition + sequence`.
  ///   - startPosition: position of the first token (the cache's length when decoding).
  ///   - cache: for inference: the layer's keys and values are written to it and attention reads
  ///     every cached position. The caller advances it after the last layer.
  ///   - tape: records for training when given.
  public func callAsFunction(
    _ x: Variable, startPosition: Int = 0, cache: KVCache? = nil, tape: Tape? = nil
  ) -> Variable {
    let h =
      x
      + attention(inputNorm(x, tape: tape), startPosition: startPosition, cache: cache, tape: tape)
    return h + mlp(postAttentionNorm(h, tape: tape), tape: tape)
  }
}

extension LlamaBlock {
  /// Layer `index` of `config`, its weights declared in Hugging Face order through `declare`:
  /// projections normal(0, `initializerRange`), the residual ones (`o_proj`, `down_proj`) scaled
  /// by `1/sqrt(2·layers)` as GPT-2 does, norms at 1, biases (``LlamaConfig/biasedProjections``)
  /// at 0 as `transformers` initialises them.
  /// A projection named in `provided` is used as it is and not declared (a GGUF file's blocks,
  /// kept out of the arena).
  init(
    index: Int, config: LlamaConfig, ropeTable: RopeTable,
    declare: (String, ParameterInitializer) -> Parameter,
    provided: [String: LinearWeight] = [:]
  ) {
    let p = "model.layers.\(index)."
    let normal = ParameterInitializer.normal(standardDeviation: config.initializerRange)
    let residual = ParameterInitializer.normal(
      standardDeviation: config.initializerRange / Float(2 * config.layerCount).squareRoot())
    let biased = Set(config.biasedProjections)
    func bias(_ projection: String) -> Parameter? {
      biased.contains(projection) ? declare(p + "self_attn.\(projection).bias", .zeros) : nil
    }
    func linear(_ name: String, _ initializer: ParameterInitializer) -> LinearWeight {
      provided[name] ?? .dense(declare(name, initializer))
    }
    let q = linear(p + "self_attn.q_proj.weight", normal)
    let qBias = bias("q_proj")
    let k = linear(p + "self_attn.k_proj.weight", normal)
    let kBias = bias("k_proj")
    let v = linear(p + "self_attn.v_proj.weight", normal)
    let vBias = bias("v_proj")
    let o = linear(p + "self_attn.o_proj.weight", residual)
    let oBias = bias("o_proj")
    let gate = linear(p + "mlp.gate_proj.weight", normal)
    let up = linear(p + "mlp.up_proj.weight", normal)
    let down = linear(p + "mlp.down_proj.weight", residual)
    inputNorm = LlamaRMSNorm(
      weight: declare(p + "input_layernorm.weight", .ones), eps: config.rmsNormEps)
    postAttentionNorm = LlamaRMSNorm(
      weight: declare(p + "post_attention_layernorm.weight", .ones), eps: config.rmsNormEps)
    attention = LlamaAttention(
      qProj: q, kProj: k, vProj: v, oProj: o,
      headCount: config.headCount, kvHeadCount: config.kvHeadCount, headDim: config.headDim,
      layerIndex: index, ropeTable: ropeTable, qBias: qBias, kBias: kBias, vBias: vBias,
      oBias: oBias,
      interleavedPairs: ropeTable.arithmetic == .llamaCpp && config.architecture == .llama)
    mlp = LlamaMLP(
      gateProj: gate, upProj: up, downProj: down, arithmetic: ropeTable.arithmetic)
  }

  /// The seven projections, in Hugging Face order.
  public var linearWeights: [LinearWeight] {
    [attention.qProj, attention.kProj, attention.vProj, attention.oProj]
      + [mlp.gateProj, mlp.upProj, mlp.downProj]
  }

  /// The same layer with each projection replaced by `transform(projection)`.
  /// - Precondition: `transform` keeps each weight's shape.
  func mappingLinearWeights(
    _ transform: (LinearWeight) throws -> LinearWeight
  ) rethrows -> LlamaBlock {
    func map(_ weight: LinearWeight) throws -> LinearWeight {
      let result = try transform(weight)
      precondition(
        result.shape == weight.shape,
        "LlamaBlock: \(weight.name) \(weight.shape) replaced by \(result.shape)")
      return result
    }
    return LlamaBlock(
      inputNorm: inputNorm,
      attention: LlamaAttention(
        qProj: try map(attention.qProj), kProj: try map(attention.kProj),
        vProj: try map(attention.vProj), oProj: try map(attention.oProj),
        headCount: attention.headCount, kvHeadCount: attention.kvHeadCount,
        headDim: attention.headDim, layerIndex: attention.layerIndex,
        ropeTable: attention.ropeTable, qBias: attention.qBias, kBias: attention.kBias,
        vBias: attention.vBias, oBias: attention.oBias,
        interleavedPairs: attention.interleavedPairs),
      postAttentionNorm: postAttentionNorm,
      mlp: LlamaMLP(
        gateProj: try map(mlp.gateProj), upProj: try map(mlp.upProj),
        downProj: try map(mlp.downProj), arithmetic: mlp.arithmetic))
  }
}
