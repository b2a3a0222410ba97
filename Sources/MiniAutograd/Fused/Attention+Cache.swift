import MiniTensor

/// Causal grouped-query attention of new queries against a preallocated key/value cache, for
/// inference (no tape): the same attention as `causalAttention(q:k:v:)`, reading the cache in
/// place instead of a copied slice.
///
/// One new token of one sequence (decoding) runs the vector decode kernel, which reads each
/// cached key and value once per query head and never calls BLAS; several tokens (prefill) run
/// the blocked GEMM kernel with keys longer than queries.
/// - Parameters:
///   - q: `[batch, sequence, queryHeads, headDim]`, queries at absolute positions
///     `startPosition..<startPosition + sequence`, untracked.
///   - keyCache: `[batch, capacity, kvHeads, headDim]` with positions
///     `0..<startPosition + sequence` written (the new tokens' keys included).
///   - valueCache: like `keyCache`.
///   - halfPrecision: the cache holds half-precision values and attention follows llama.cpp's
///     arithmetic over them (``InferenceArithmetic/llamaCpp``).
///   - interleavedPairs: with `halfPrecision`, q·k is summed in the element order of
///     llama.cpp's interleaved layout of rotated pairs (a GGUF `llama` model's queries and keys),
///     the queries and keys here holding each pair as (i, i + headDim/2).
/// - Returns: `[batch, sequence, queryHeads, headDim]`.
public func causalAttention(
  q: Variable, keyCache: Tensor, valueCache: Tensor, startPosition: Int,
  halfPrecision: Bool = false, interleavedPairs: Bool = false
) -> Variable {
  precondition(
    q.tape == nil && q.rank == 4 && keyCache.rank == 4 && valueCache.shape == keyCache.shape
      && keyCache.isContiguous && valueCache.isContiguous && q.shape[0] == keyCache.shape[0]
      && q.shape[3] == keyCache.shape[3] && keyCache.shape[2] > 0
      && q.shape[2] % keyCache.shape[2] == 0 && startPosition >= 0
      && startPosition + q.shape[1] <= keyCache.shape[1],
    "causalAttention: q \(q.shape) (no tape) at \(startPosition), cache \(keyCache.shape)")
  let (batch, sequence, queryHeads, headDim) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let (capacity, kvHeads) = (keyCache.shape[1], keyCache.shape[2])
  let length = startPosition + sequence
  let queries = q.value.contiguous()
  let scratchCount = batch * queryHeads * sequence * length
  let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(scratchCount, 1))
  defer { scratch.deallocate() }
  let value = Tensor(unsafeUninitializedShape: q.shape) { out in
    withUnsafePointers(queries, keyCache, valueCache) { q, k, v in
      if batch == 1 && sequence == 1 {
        Kernels.attentionDecode(
          q: q, kCache: k, vCache: v, length: length, output: out.baseAddress!, scratch: scratch,
          queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim,
          halfPrecision: halfPrecision, interleavedPairs: interleavedPairs)
      } else if halfPrecision {
        Kernels.attentionPrefillHalf(
          q: q, kCache: k, vCache: v, output: out.baseAddress!, scratch: scratch, batch: batch,
          sequence: sequence, startPosition: startPosition, maxPositions: capacity,
          queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim,
          interleavedPairs: interleavedPairs)
      } else {
        Kernels.attentionPrefill(
          q: q, kCache: k, vCache: v, output: out.baseAddress!, scratch: scratch, batch: batch,
          sequence: sequence, startPosition: startPosition, maxPositions: capacity,
          queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim)
      }
    }
  }
  return Variable(value)
}
