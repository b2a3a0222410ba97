import MiniAutograd
import MiniTensor

extension Llama {
  /// One decoding step for several independent sequences, as a server batches its clients:
  /// each sequence brings one new token and its own ``KVCache`` (batch 1) at its own length.
  ///
  /// Every projection, the MLP and the head run once over all the sequences (the batch folded
  /// into the GEMMs' M), so the weights are read once per step; RoPE, the cache write and the
  /// attention run per sequence at its own position. Each cache is advanced by one.
  ///
  /// A row's result depends on the other rows only through rounding: the products always take
  /// the GEMM path (a single row is padded to two), whose kernels OpenBLAS chooses by the
  /// number of rows, so a sequence's logits agree to float rounding whatever shares its step.
  /// - Parameters:
  ///   - tokens: one token id per sequence.
  ///   - caches: one batch-1 cache per sequence, each with room for one more position.
  /// - Returns: logits `[tokens.count, vocabSize]`.
  public func decodeStep(_ tokens: [Int32], caches: [KVCache]) -> Tensor {
    precondition(
      !tokens.isEmpty && tokens.count == caches.count,
      "decodeStep: \(tokens.count) tokens for \(caches.count) caches")
    precondition(
      tokens.allSatisfy { $0 >= 0 && Int($0) < config.vocabSize },
      "decodeStep: token ids must be in 0..<\(config.vocabSize)")
    for cache in caches {
      precondition(
        cache.batch == 1 && cache.length < cache.capacity
          && cache.length < config.maxPositions,
        "decodeStep: a cache of batch \(cache.batch) at \(cache.length) of \(cache.capacity)")
    }
    // Padding a single row to two keeps every product on the GEMM path (see above).
    let padded = tokens.count == 1 ? tokens + tokens : tokens
    let rows = padded.count
    var x = embedding(embedTokens.variable(on: nil), ids: padded, shape: [rows, 1])
    for block in blocks {
      x = block.decoding(x, caches: caches)
    }
    for cache in caches { cache.advance(by: 1) }
    let result = self.logits(norm(x, tape: nil), tape: nil).value.reshaped([
      rows, config.vocabSize,
    ])
    return rows == tokens.count ? result : result.sliced(0..<tokens.count)
  }
}

extension LlamaBlock {
  /// The layer for one new token of each of `caches.count` independent sequences (rows of `x`
  /// `[rows, 1, hiddenSize]`; rows past `caches.count` are padding, computed and discarded).
  func decoding(_ x: Variable, caches: [KVCache]) -> Variable {
    let h = x + attention.decoding(inputNorm(x, tape: nil), caches: caches)
    return h + mlp(postAttentionNorm(h, tape: nil), tape: nil)
  }
}

extension LlamaAttention {
  /// Attention of one new token per sequence against that sequence's own cache: projections
  /// over all rows at once, RoPE, cache write and attention per sequence at its position.
  func decoding(_ x: Variable, caches: [KVCache]) -> Variable {
    let rows = x.shape[0]
    let queries = project(x, qProj, qBias, nil).value.reshaped([rows, headCount * headDim])
    let keys = project(x, kProj, kBias, nil).value.reshaped([rows, kvHeadCount * headDim])
    let values = project(x, vProj, vBias, nil).value.reshaped([rows, kvHeadCount * headDim])
    var mixed: [Tensor] = []
    mixed.reserveCapacity(rows)
    for (row, cache) in caches.enumerated() {
      let position = cache.length
      let q = rope(
        Variable(queries[row: row].reshaped([1, 1, headCount, headDim])), table: ropeTable,
        startPosition: position)
      let k = rope(
        Variable(keys[row: row].reshaped([1, 1, kvHeadCount, headDim])), table: ropeTable,
        startPosition: position)
      cache.write(
        layer: layerIndex, keys: k.value.contiguous(),
        values: values[row: row].reshaped([1, 1, kvHeadCount, headDim]).contiguous(),
        at: position)
      let attended = causalAttention(
        q: q, keyCache: cache.keyBuffer(layer: layerIndex),
        valueCache: cache.valueBuffer(layer: layerIndex), startPosition: position)
      mixed.append(attended.value.reshaped([1, headCount * headDim]))
    }
    // Padding rows (past the sequences) repeat the last sequence's result.
    while mixed.count < rows { mixed.append(mixed[mixed.count - 1]) }
    let joined = Tensor.concatenate(mixed, axis: 0).reshaped([rows, 1, headCount * headDim])
    return project(Variable(joined), oProj, oBias, nil)
  }
}
