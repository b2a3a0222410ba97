import MiniAutograd
import MiniTensor

/// q8_0 copies of a model's projection weights, for inference.
struct QuantizedWeights: Sendable {
  /// One layer's projections (`nil` where a weight's input size is not a multiple of 32).
  struct Layer: Sendable {
    var q, k, v, o, gate, up, down: Q8Matrix?
  }
  var layers: [Layer]
  var head: Q8Matrix?
}

extension Llama {
  /// The same model whose inference (no tape) multiplies by q8_0 weights: every projection and
  /// the head stored as int8 blocks of 32 with one scale each, as ggml's `q8_0`. Embeddings and
  /// norms stay `Float`. Training through a tape still uses the `Float` weights, which the two
  /// models share (so later changes to them are not seen by the quantized copies).
  ///
  /// Decoding reads about a quarter of the bytes; logits differ from the `Float` model by
  /// the rounding of each weight to 8 bits.
  public func quantized() -> Llama {
    func q8(_ parameter: Parameter) -> Q8Matrix? {
      Q8Matrix.canQuantize(parameter.value.shape) ? Q8Matrix(parameter.value) : nil
    }
    let quantizedLayers = layers.map { layer in
      QuantizedWeights.Layer(
        q: q8(layer.qProj), k: q8(layer.kProj), v: q8(layer.vProj), o: q8(layer.oProj),
        gate: q8(layer.gateProj), up: q8(layer.upProj), down: q8(layer.downProj))
    }
    return Llama(
      sharing: self, quantized: QuantizedWeights(layers: quantizedLayers, head: q8(head)))
  }

  /// Whether inference uses q8_0 weights (`quantized()`).
  public var isQuantized: Bool { quantizedWeights != nil }

  /// Bytes of weights one decoding step reads: every projection and the head (quantized or
  /// not), the norms, and one embedding row.
  public var decodeWeightBytes: Int {
    func bytes(_ parameter: Parameter, _ q8: Q8Matrix?) -> Int {
      q8?.byteCount ?? 4 * parameter.value.count
    }
    var total = 4 * config.hiddenSize * (1 + 2 * config.layerCount + 1)
    for (index, layer) in layers.enumerated() {
      let q = quantizedWeights?.layers[index]
      total += bytes(layer.qProj, q?.q) + bytes(layer.kProj, q?.k) + bytes(layer.vProj, q?.v)
      total += bytes(layer.oProj, q?.o) + bytes(layer.gateProj, q?.gate)
      total += bytes(layer.upProj, q?.up) + bytes(layer.downProj, q?.down)
    }
    return total + bytes(head, quantizedWeights?.head)
  }
}
