import MiniAutograd
import MiniTensor

/// Causal grouped-query self-attention with rotary positions, as `transformers`'
/// `LlamaAttention`: `q_proj`, `k_proj`, `v_proj`, RoPE on queries and keys, scaled dot-product
/// attention in which key/value head `h / (headCount / kvHeadCount)` serves query head `h`, then
/// `o_proj`. Projections may carry a bias, as Qwen2's q/k/v do (`Qwen2Attention`).
public struct LlamaAttention {
  /// `[headCount · headDim, hiddenSize]`.
  public let qProj: LinearWeight
  /// `[kvHeadCount · headDim, hiddenSize]`.
  public let kProj: LinearWeight
  /// `[kvHeadCount · headDim, hiddenSize]`.
  public let vProj: LinearWeight
  /// `[hiddenSize, headCount · headDim]`.
  public let oProj: LinearWeight
  /// Query heads.
  public let headCount: Int
  /// Key/value heads.
  public let kvHeadCount: Int
  /// Width of one head.
  public let headDim: Int
  /// The layer whose keys and values this attention keeps in a ``KVCache``.
  public let layerIndex: Int
  let ropeTable: RopeTable
  /// `q_proj.bias`, `[headCount · headDim]` (Qwen2, or Llama with `attention_bias`).
  public internal(set) var qBias: Parameter? = nil
  /// `k_proj.bias`, `[kvHeadCount · headDim]`.
  public internal(set) var kBias: Parameter? = nil
  /// `v_proj.bias`, `[kvHeadCount · headDim]`.
  public internal(set) var vBias: Parameter? = nil
  /// `o_proj.bias`, `[hiddenSize]` (Llama with `attention_bias` only).
  public internal(set) var oBias: Parameter? = nil
  /// Whether attention over a half-precision cache sums q·k in the element order of llama.cpp's
  /// interleaved layout of rotated pairs, as it runs a GGUF `llama` model (whose q/k rows the
  /// importer reorders into Hugging Face's halves); Qwen2 files keep Hugging Face's layout.
  var interleavedPairs = false

  /// Attention of `x` `[batch, sequence, hiddenSize]` (already normalised) over itself and,
  /// with a cache, every earlier position; result `[batch, sequence, hiddenSize]`.
  /// - Parameters:
  ///   - x: tokens at positions `startPosition..<startPosition + sequence`.
  ///   - startPosition: position of the first token.
  ///   - cache: for inference: this layer's new keys and values are written at `startPosition`
  ///     and the queries read the cache in place.
  ///   - tape: records for training when given.
  public func callAsFunction(
    _ x: Variable, startPosition: Int, cache: KVCache?, tape: Tape?
  ) -> Variable {
    let (batch, sequence) = (x.shape[0], x.shape[1])
    let queries = project(x, qProj, qBias, tape).reshaped([batch, sequence, headCount, headDim])
    let keys = project(x, kProj, kBias, tape).reshaped([batch, sequence, kvHeadCount, headDim])
    let values = project(x, vProj, vBias, tape).reshaped([batch, sequence, kvHeadCount, headDim])
    let q = rope(queries, table: ropeTable, startPosition: startPosition)
    let k = rope(keys, table: ropeTable, startPosition: startPosition)
    let mixed: Variable
    if let cache {
      cache.write(layer: layerIndex, keys: k.value, values: values.value, at: startPosition)
      mixed = causalAttention(
        q: q, keyCache: cache.keyBuffer(layer: layerIndex),
        valueCache: cache.valueBuffer(layer: layerIndex), startPosition: startPosition,
        halfPrecision: cache.precision == .f16, interleavedPairs: interleavedPairs)
    } else {
      mixed = causalAttention(q: q, k: k, v: values)
    }
    return project(mixed.reshaped([batch, sequence, headCount * headDim]), oProj, oBias, tape)
  }

  /// `x · Wᵀ (+ b)`: the bias broadcasts over the rows, and its gradient is the sum over them.
  func project(
    _ x: Variable, _ weight: LinearWeight, _ bias: Parameter?, _ tape: Tape?
  ) -> Variable {
    let y = weight(x, tape: tape)
    guard let bias else { return y }
    return y + bias.variable(on: tape)
  }
}
