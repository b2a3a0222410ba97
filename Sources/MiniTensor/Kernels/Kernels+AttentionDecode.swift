internal import CKernels

extension Kernels {
  /// Attention for one new token of one sequence against its key/value cache (inference).
  ///
  /// The cache of one layer and one batch element is laid out `[maxPositions, kvHeads, headDim]`;
  /// positions `0..<length` are valid, the new token's key and value (already written at
  /// `length − 1`) included. Decoding is bound by memory bandwidth, so this reads each cached key
  /// and value once per query head with vector loops rather than calling BLAS; key/value heads
  /// are split over threads when the cache is large enough.
  /// - Parameters:
  ///   - q: `[queryHeads, headDim]`, the new token's queries (rotated).
  ///   - kCache, vCache: `[≥ length, kvHeads, headDim]`.
  ///   - length: valid cache positions, the new token's included.
  ///   - output: `[queryHeads, headDim]`.
  ///   - scratch: `[queryHeads, length]`, receives the attention probabilities.
  ///   - scale: score scale, default `1 / sqrt(headDim)`.
  package static func attentionDecode(
    q: UnsafePointer<Float>, kCache: UnsafePointer<Float>, vCache: UnsafePointer<Float>,
    length: Int, output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>,
    queryHeads: Int, kvHeads: Int, headDim: Int, scale: Float? = nil, halfPrecision: Bool = false,
    interleavedPairs: Bool = false
  ) {
    precondition(
      length > 0 && queryHeads > 0 && kvHeads > 0 && headDim > 0 && queryHeads % kvHeads == 0,
      "attentionDecode: q [\(queryHeads), \(headDim)], cache [\(length), \(kvHeads), \(headDim)] "
        + "(queryHeads must be a multiple of kvHeads, length ≥ 1)")
    let group = queryHeads / kvHeads
    let D = headDim
    let rowStride = kvHeads * D
    let scale = scale ?? 1 / Float(D).squareRoot()
    let headWork = 2 * group * length * D
    let kernels = activeKernels
    parallelFor(kvHeads, grain: max(1, (4 * parallelWork + headWork - 1) / headWork)) { range in
      for g in range {
        let keys = kCache + g * D
        let values = vCache + g * D
        for h in (g * group)..<((g + 1) * group) {
          if halfPrecision {
            halfPrecisionHead(
              kernels, q + h * D, keys, values, rowStride, length, D, scale, prompt: false,
              interleavedPairs: interleavedPairs, scratch + h * length, output + h * D)
          } else {
            kernels.attention_decode_head(
              q + h * D, keys, values, rowStride, length, D, scale, scratch + h * length,
              output + h * D)
          }
        }
      }
    }
  }

  /// Batched attention of `sequence` new tokens per batch element against a key/value cache
  /// (inference prefill): query `t` sits at absolute position `startPosition + t` and attends to
  /// cache positions `0…startPosition + t`.
  ///
  /// The cache is `[batch, maxPositions, kvHeads, headDim]` with positions
  /// `0..<startPosition + sequence` already written (the new tokens' keys and values included).
  /// Runs `attentionForward` with keys longer than queries.
  /// - Parameters:
  ///   - q: `[batch, sequence, queryHeads, headDim]`.
  ///   - output: `[batch, sequence, queryHeads, headDim]`.
  ///   - scratch: `[batch, queryHeads, sequence, startPosition + sequence]`, receives the
  ///     probabilities.
  package static func attentionPrefill(
    q: UnsafePointer<Float>, kCache: UnsafePointer<Float>, vCache: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, batch: Int,
    sequence: Int, startPosition: Int, maxPositions: Int, queryHeads: Int, kvHeads: Int,
    headDim: Int, scale: Float? = nil
  ) {
    precondition(
      startPosition >= 0 && startPosition + sequence <= maxPositions,
      "attentionPrefill: positions \(startPosition)..<\(startPosition + sequence) "
        + "beyond cache of \(maxPositions)")
    let shape = AttentionShape(
      batch: batch, sequence: sequence, queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim,
      kvLength: startPosition + sequence, kvBatchStride: maxPositions * kvHeads * headDim,
      scale: scale, name: "attentionPrefill")
    attentionForward(
      q: q, k: kCache, v: vCache, output: output, probs: scratch, shape: shape)
  }
}

extension Kernels {
  /// Attention for one new token of each of several sequences, each against its own cache at
  /// its own length (a server's batched decoding step).
  ///
  /// Every head of every sequence runs the same per-head kernel as ``attentionDecode(q:kCache:vCache:length:output:scratch:queryHeads:kvHeads:headDim:scale:)``
  /// with the same arguments, so each sequence's output is the same bits it gets alone; the
  /// (sequence, key/value head) pairs are split over threads, which one sequence's short cache
  /// could not use.
  /// - Parameters:
  ///   - q: `[sequences, queryHeads, headDim]`, each sequence's new queries (rotated).
  ///   - kCaches, vCaches: per sequence, its cache of this layer `[≥ length, kvHeads, headDim]`.
  ///   - lengths: per sequence, its valid cache positions (the new token's included).
  ///   - output: `[sequences, queryHeads, headDim]`.
  package static func attentionDecodeBatch(
    q: UnsafePointer<Float>, kCaches: [UnsafePointer<Float>], vCaches: [UnsafePointer<Float>],
    lengths: [Int], output: UnsafeMutablePointer<Float>, queryHeads: Int, kvHeads: Int,
    headDim: Int, halfPrecision: Bool = false, interleavedPairs: Bool = false
  ) {
    let sequences = lengths.count
    precondition(
      kCaches.count == sequences && vCaches.count == sequences && lengths.allSatisfy { $0 > 0 }
        && queryHeads > 0 && kvHeads > 0 && headDim > 0 && queryHeads % kvHeads == 0,
      "attentionDecodeBatch: \(sequences) sequences of lengths \(lengths), \(kCaches.count) "
        + "caches, heads \(queryHeads)/\(kvHeads) of \(headDim)")
    guard sequences > 0 else { return }
    let group = queryHeads / kvHeads
    let D = headDim
    let rowStride = kvHeads * D
    let scale = 1 / Float(D).squareRoot()
    // Each sequence's probabilities `[queryHeads, length]`, one after another.
    var offsets = [Int](repeating: 0, count: sequences + 1)
    for s in 0..<sequences { offsets[s + 1] = offsets[s] + queryHeads * lengths[s] }
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(offsets[sequences], 1))
    defer { scratch.deallocate() }
    let kernels = activeKernels
    let totalWork = 2 * D * offsets[sequences]
    let items = sequences * kvHeads
    let grain = max(1, items * 4 * parallelWork / max(totalWork, 1))
    let (out, scores) = (UncheckedSendable(output), UncheckedSendable(scratch))
    parallelFor(items, grain: grain) { range in
      for item in range {
        let (s, g) = item.quotientAndRemainder(dividingBy: kvHeads)
        let length = lengths[s]
        let keys = kCaches[s] + g * D
        let values = vCaches[s] + g * D
        for h in (g * group)..<((g + 1) * group) {
          if halfPrecision {
            halfPrecisionHead(
              kernels, q + (s * queryHeads + h) * D, keys, values, rowStride, length, D, scale,
              prompt: false, interleavedPairs: interleavedPairs,
              scores.value + offsets[s] + h * length,
              out.value + (s * queryHeads + h) * D)
          } else {
            kernels.attention_decode_head(
              q + (s * queryHeads + h) * D, keys, values, rowStride, length, D, scale,
              scores.value + offsets[s] + h * length, out.value + (s * queryHeads + h) * D)
          }
        }
      }
    }
  }
}

extension Kernels {
  /// Rounds `count` floats in place to the nearest half-precision value (ties to even), as F16C
  /// converts: what a half-precision key/value cache keeps.
  package static func roundToHalf(_ x: UnsafeMutablePointer<Float>, count: Int) {
    precondition(count >= 0, "roundToHalf: count \(count)")
    activeKernels.half_round(x, count)
  }

  /// Attention of `sequence` new tokens per batch element against a half-precision cache, as
  /// llama.cpp computes it (``InferenceArithmetic/llamaCpp``): each (batch element, query head,
  /// token) runs the kernel of ``attentionDecode(q:kCache:vCache:length:output:scratch:queryHeads:kvHeads:headDim:scale:halfPrecision:)``
  /// over positions `0…startPosition + t`, in tinyBLAS's order when there are several tokens
  /// (llama.cpp's products of a prompt) and ggml's per-token order for one.
  /// Same layout as ``attentionPrefill(q:kCache:vCache:output:scratch:batch:sequence:startPosition:maxPositions:queryHeads:kvHeads:headDim:scale:)``;
  /// `scratch` holds `[batch, queryHeads, sequence, startPosition + sequence]`. With
  /// `interleavedPairs`, q·k is summed in the element order of llama.cpp's interleaved layout
  /// of rotated pairs (a GGUF `llama` model's), the queries and keys holding each pair as
  /// (i, i + headDim/2).
  package static func attentionPrefillHalf(
    q: UnsafePointer<Float>, kCache: UnsafePointer<Float>, vCache: UnsafePointer<Float>,
    output: UnsafeMutablePointer<Float>, scratch: UnsafeMutablePointer<Float>, batch: Int,
    sequence: Int, startPosition: Int, maxPositions: Int, queryHeads: Int, kvHeads: Int,
    headDim: Int, interleavedPairs: Bool = false
  ) {
    precondition(
      startPosition >= 0 && startPosition + sequence <= maxPositions && queryHeads > 0
        && kvHeads > 0 && queryHeads % kvHeads == 0 && headDim > 0,
      "attentionPrefillHalf: positions \(startPosition)..<\(startPosition + sequence) of "
        + "\(maxPositions), heads \(queryHeads)/\(kvHeads)")
    guard batch > 0 && sequence > 0 else { return }
    let D = headDim
    let group = queryHeads / kvHeads
    let rowStride = kvHeads * D
    let length = startPosition + sequence
    let scale = 1 / Float(D).squareRoot()
    let prompt = sequence > 1
    let kernels = activeKernels
    let (out, scores) = (UncheckedSendable(output), UncheckedSendable(scratch))
    let items = batch * queryHeads
    let work = 2 * D * sequence * length
    parallelFor(items, grain: max(1, 4 * parallelWork / max(work, 1))) { range in
      for item in range {
        let (b, h) = item.quotientAndRemainder(dividingBy: queryHeads)
        let g = h / group
        let keys = kCache + b * maxPositions * rowStride + g * D
        let values = vCache + b * maxPositions * rowStride + g * D
        for t in 0..<sequence {
          let row = (b * sequence + t) * queryHeads + h
          halfPrecisionHead(
            kernels, q + row * D, keys, values, rowStride, startPosition + t + 1, D, scale,
            prompt: prompt, interleavedPairs: interleavedPairs,
            scores.value + (item * sequence + t) * length, out.value + row * D)
        }
      }
    }
  }

  /// One head of ``attentionPrefillHalf`` or of a half-precision decoding step.
  fileprivate static func halfPrecisionHead(
    _ kernels: ck_kernels, _ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>,
    _ v: UnsafePointer<Float>, _ stride: Int, _ length: Int, _ headDim: Int, _ scale: Float,
    prompt: Bool, interleavedPairs: Bool, _ scores: UnsafeMutablePointer<Float>,
    _ out: UnsafeMutablePointer<Float>
  ) {
    let flags: Int32 = (prompt ? 1 : 0) | (interleavedPairs ? 2 : 0)
    withUnsafeTemporaryAllocation(of: Float.self, capacity: 32 * headDim) { sums in
      kernels.attention_head_f16(
        q, k, v, stride, length, headDim, scale, flags, scores, sums.baseAddress!, out)
    }
  }
}
