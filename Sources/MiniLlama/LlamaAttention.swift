import MiniAutograd
import MiniTensor

/// Causal grouped-query self-attention with rotary positions, as `transformers`'
/// `LlamaAttention`: `q_proj`, `k_proj`, `v_proj`, RoPE on queries and keys, scaled dot-product
/// attention in which key/value head `h / (headCount / kvHeadCount)` serves query head `h`, then
/// `o_proj`.
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
    let queries = qProj(x, tape: tape).reshaped([batch, sequence, headCount, headDim])
    let keys = kProj(x, tape: tape).reshaped([batch, sequence, kvHeadCount, headDim])
    let values = vProj(x, tape: tape).reshaped([batch, sequence, kvHeadCount, headDim])
    let q = rope(queries, table: ropeTable, startPosition: startPosition)
    let k = rope(keys, table: ropeTable, startPosition: startPosition)
    let mixed: Variable
    if let cache {
      cache.write(layer: layerIndex, keys: k.value, values: values.value, at: startPosition)
      mixed = causalAttention(
        q: q, keyCache: cache.keyBuffer(layer: layerIndex),
        valueCache: cache.valueBuffer(layer: layerIndex), startPosition: startPosition)
    } else {
      mixed = causalAttention(q: q, k: k, v: values)
    }
    return oProj(mixed.reshaped([batch, sequence, headCount * headDim]), tape: tape)
  }
}
