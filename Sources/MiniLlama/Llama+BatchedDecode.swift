import MiniAutograd
import MiniTensor

extension Llama {
  /// One decoding step for several independent sequences, as a server batches its clients:
  /// each sequence brings one new token and its own ``KVCache`` (batch 1) at its own length.
  ///
  /// Every projection, the MLP and the head run once over all the sequences, with kernels that
  /// read each weight once per group of rows yet sum every row exactly as a one-row product does
  /// (``LinearWeight/rowInvariantProduct(_:)``); RoPE, the cache write and the attention run per
  /// sequence at its own position, with the kernels a lone sequence's decoding uses. So a sequence's logits are the same bits whatever else shares
  /// its step, and the same as `generate` gives after the same prefill. Each cache is advanced by
  /// one.
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
    let rows = tokens.count
    var x = embedding(embedTokens.variable(on: nil), ids: tokens, shape: [rows, 1])
    for block in blocks {
      x = block.decoding(x, caches: caches)
    }
    for cache in caches { cache.advance(by: 1) }
    return headProduct(norm(x, tape: nil).value).reshaped([rows, config.vocabSize])
  }

  /// Runs `prompt` through the model into `cache` (which it follows) and returns the logits of
  /// the token after it: the first step of `generate` and of a server's sequence, so both start
  /// from the same bits.
  /// - Parameters:
  ///   - prompt: at least one token id.
  ///   - cache: a batch-1 cache with room for the prompt.
  public func prefill(_ prompt: [Int32], cache: KVCache) -> [Float] {
    precondition(!prompt.isEmpty, "prefill: empty prompt")
    precondition(
      prompt.allSatisfy { $0 >= 0 && Int($0) < config.vocabSize },
      "prefill: prompt ids must be in 0..<\(config.vocabSize)")
    precondition(cache.batch == 1, "prefill: a cache of batch \(cache.batch)")
    let hidden = hiddenStates(prompt, cache: cache).value.reshaped([-1, config.hiddenSize])
    // Only the last position's logits are needed: the head runs on one row.
    return headProduct(hidden[row: prompt.count - 1].reshaped([1, config.hiddenSize])).scalars
  }

  /// The head's product with each row computed as a single row is.
  func headProduct(_ hidden: Tensor) -> Tensor {
    guard let head else {
      preconditionFailure("Llama: this trunk was built without lm_head; no logits")
    }
    return head.rowInvariantProduct(hidden)
  }
}

extension LlamaBlock {
  /// The layer for one new token of each of `caches.count` independent sequences (rows of `x`
  /// `[rows, 1, hiddenSize]`), every product row-invariant.
  func decoding(_ x: Variable, caches: [KVCache]) -> Variable {
    let h = x + attention.decoding(inputNorm(x, tape: nil), caches: caches)
    return h + mlp.decoding(postAttentionNorm(h, tape: nil))
  }
}

extension LlamaMLP {
  /// The MLP for inference with row-invariant products.
  func decoding(_ x: Variable) -> Variable {
    let gate = Variable(gateProj.rowInvariantProduct(x.value))
    let up = Variable(upProj.rowInvariantProduct(x.value))
    return Variable(
      downProj.rowInvariantProduct(activation(gate: gate, up: up, tape: nil).value))
  }
}

extension LlamaAttention {
  /// Attention of one new token per sequence against that sequence's own cache: projections
  /// over all rows at once; RoPE and the cache write per sequence at its position; then the
  /// attention of every sequence in one call, its (sequence, head) pairs over the threads, each
  /// head computed as the one-sequence decoding kernel computes it.
  func decoding(_ x: Variable, caches: [KVCache]) -> Variable {
    let rows = x.shape[0]
    let (queryWidth, kvWidth) = (headCount * headDim, kvHeadCount * headDim)
    let queries = decodingProject(x, qProj, qBias).value.reshaped([rows, queryWidth])
    let keys = decodingProject(x, kProj, kBias).value.reshaped([rows, kvWidth])
    let values = decodingProject(x, vProj, vBias).value.reshaped([rows, kvWidth])
    let positions = caches.map(\.length)
    let halfPrecision = caches.first?.precision == .f16
    precondition(
      caches.allSatisfy { $0.precision == caches.first?.precision },
      "decodeStep: caches of different precisions")
    let (heads, kvHeads, dim, table, layer) = (
      headCount, kvHeadCount, headDim, ropeTable, layerIndex
    )
    let rotatedKeys = Tensor(unsafeUninitializedShape: [rows, kvWidth]) { out in
      withUnsafePointers(keys, values) { keys, values in
        out.baseAddress!.update(from: keys, count: rows * kvWidth)
        for (row, cache) in caches.enumerated() {
          let key = out.baseAddress! + row * kvWidth
          Kernels.ropeForward(
            key, table: table, batch: 1, sequence: 1, heads: kvHeads, headDim: dim,
            startPosition: positions[row])
          cache.write(
            layer: layer, key: key, value: values + row * kvWidth, at: positions[row])
        }
      }
    }
    let mixed = Tensor(unsafeUninitializedShape: [rows, 1, queryWidth]) { out in
      withUnsafePointers(queries, rotatedKeys) { queries, _ in
        let rotated = UnsafeMutablePointer<Float>.allocate(capacity: rows * queryWidth)
        defer { rotated.deallocate() }
        rotated.update(from: queries, count: rows * queryWidth)
        for row in 0..<rows {
          Kernels.ropeForward(
            rotated + row * queryWidth, table: table, batch: 1, sequence: 1, heads: heads,
            headDim: dim, startPosition: positions[row])
        }
        Kernels.attentionDecodeBatch(
          q: rotated, kCaches: caches.map { $0.keyBase(layer: layer) },
          vCaches: caches.map { $0.valueBase(layer: layer) },
          lengths: positions.map { $0 + 1 }, output: out.baseAddress!, queryHeads: heads,
          kvHeads: kvHeads, headDim: dim, halfPrecision: halfPrecision,
          interleavedPairs: interleavedPairs)
      }
    }
    return decodingProject(Variable(mixed), oProj, oBias)
  }

  /// `x · Wᵀ (+ b)` with each row computed as a single row is.
  private func decodingProject(_ x: Variable, _ weight: LinearWeight, _ bias: Parameter?)
    -> Variable
  {
    let y = Variable(weight.rowInvariantProduct(x.value))
    guard let bias else { return y }
    return y + bias.variable(on: nil)
  }
}
