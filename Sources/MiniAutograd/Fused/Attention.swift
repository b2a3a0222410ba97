import MiniTensor

/// Causal scaled-dot-product attention with grouped-query heads, one tape node over the fused
/// kernels (probabilities saved for the backward, no per-head copies).
///
/// Key/value head `h / (queryHeads / kvHeads)` serves query head `h`. Keys and values may be
/// longer than the queries (a cached prefix): query `t` is at absolute position
/// `kvLength − sequence + t` and sees keys up to that position. Scores are scaled by
/// `1 / sqrt(headDim)`.
/// - Parameters:
///   - q: `[batch, sequence, queryHeads, headDim]`.
///   - k: `[batch, kvLength, kvHeads, headDim]`, `kvLength ≥ sequence`.
///   - v: like `k`.
/// - Returns: `[batch, sequence, queryHeads, headDim]`.
public func causalAttention(q: Variable, k: Variable, v: Variable) -> Variable {
  precondition(
    q.rank == 4 && k.rank == 4 && v.shape == k.shape && q.shape[0] == k.shape[0]
      && q.shape[3] == k.shape[3] && q.shape[3] > 0 && k.shape[1] >= q.shape[1]
      && k.shape[2] > 0 && q.shape[2] % k.shape[2] == 0,
    "causalAttention: q \(q.shape), k \(k.shape), v \(v.shape)")
  let (batch, sequence, queryHeads, headDim) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
  let (kvLength, kvHeads) = (k.shape[1], k.shape[2])
  let (qv, kv, vv) = (q.value.contiguous(), k.value.contiguous(), v.value.contiguous())
  var probabilities = Tensor.zeros([0])
  let value = Tensor(unsafeUninitializedShape: q.shape) { out in
    probabilities = Tensor(unsafeUninitializedShape: [batch, queryHeads, sequence, kvLength]) {
      probs in
      withUnsafePointers(qv, kv, vv) { q, k, v in
        Kernels.attentionForward(
          q: q, k: k, v: v, output: out.baseAddress!, probs: probs.baseAddress!, batch: batch,
          sequence: sequence, queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim,
          kvLength: kvLength)
      }
    }
  }
  guard let tape = Variable.commonTape(q, k, v) else { return Variable(value) }
  let (gq, gk, gv) = (q.handle, k.handle, v.handle)
  let saved = probabilities
  return tape.record(value) { tape, dOut in
    withUnsafePointers(dOut, qv, kv, vv, saved) { dOut, q, k, v, probs in
      tape.storeGradients(
        .overwrite(gq, count: qv.count), .overwrite(gk, count: kv.count),
        .overwrite(gv, count: vv.count)
      ) { dq, dk, dv in
        Kernels.attentionBackward(
          dOut: dOut, q: q, k: k, v: v, probs: probs, dq: dq, dk: dk, dv: dv, batch: batch,
          sequence: sequence, queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim,
          kvLength: kvLength)
      }
    }
  }
}

extension Unfused {
  /// Causal scaled-dot-product attention with grouped-query heads, as Hugging Face's eager
  /// Llama attention: key/value head `h / (queryHeads / kvHeads)` serves query head `h`; query
  /// `t` sits at absolute position `kvLength − sequence + t` and sees keys up to that position.
  /// - Parameters:
  ///   - q: `[batch, sequence, queryHeads, headDim]`.
  ///   - k: `[batch, kvLength, kvHeads, headDim]` with `kvLength ≥ sequence`.
  ///   - v: like `k`.
  /// - Returns: `[batch, sequence, queryHeads, headDim]`.
  public static func causalAttention(q: Variable, k: Variable, v: Variable) -> Variable {
    precondition(
      q.rank == 4 && k.rank == 4 && v.shape == k.shape && q.shape[0] == k.shape[0]
        && q.shape[3] == k.shape[3] && k.shape[1] >= q.shape[1] && k.shape[2] > 0
        && q.shape[2] % k.shape[2] == 0,
      "causalAttention: q \(q.shape), k \(k.shape), v \(v.shape)")
    let (batch, sequence, queryHeads, headDim) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (kvLength, kvHeads) = (k.shape[1], k.shape[2])
    let group = queryHeads / kvHeads
    func repeated(_ t: Variable) -> Variable {
      t.reshaped([batch, kvLength, kvHeads, 1, headDim])
        .broadcast(to: [batch, kvLength, kvHeads, group, headDim])
        .reshaped([batch, kvLength, queryHeads, headDim])
        .permuted([0, 2, 1, 3])
    }
    let past = kvLength - sequence
    let mask = Tensor(shape: [sequence, kvLength]) { out in
      for t in 0..<sequence {
        for s in (past + t + 1)..<kvLength { out[t * kvLength + s] = -.infinity }
      }
    }
    let scale = 1 / Float(headDim).squareRoot()
    let scores = matmul(q.permuted([0, 2, 1, 3]), repeated(k), transposeB: true) * scale
    let probabilities = (scores + Variable(mask)).softmax()
    return matmul(probabilities, repeated(v)).permuted([0, 2, 1, 3])
  }
}
