import MiniTensor

/// Softmax cross-entropy averaged over the counted positions, as PyTorch's
/// `F.cross_entropy(logits, targets, ignore_index:)`; with `weights`, the weighted mean
/// `Σ wᵢ·lossᵢ / Σ wᵢ` over positions whose target is not `ignoreIndex` (a 0/1 loss mask gives the
/// masked mean). One tape node over the fused kernels: each logits row is read once forward, and
/// the backward writes `(softmax − onehot) · scale` in place of the saved logits when nothing else
/// holds them.
///
/// A batch with nothing counted (every target ignored, or all weights 0) gives loss 0 and a zero
/// gradient, never NaN.
/// - Parameters:
///   - logits: `[…, vocab]`, one row per target.
///   - targets: class index per row (in `0..<vocab`), or `ignoreIndex`.
///   - weights: optional non-negative, finite weight per row.
///   - ignoreIndex: the target value that marks a position as not counted.
/// - Returns: the scalar loss (shape `[]`).
public func crossEntropy(
  logits: Variable, targets: [Int32], weights: [Float]? = nil, ignoreIndex: Int32 = -100
) -> Variable {
  let rowsInfo = CrossEntropyRows(
    logitsShape: logits.shape, targets: targets, weights: weights, ignoreIndex: ignoreIndex)
  let (rows, vocab) = (rowsInfo.rows, rowsInfo.vocab)
  let totalWeight = rowsInfo.totalWeight
  let input = logits.value.contiguous()
  let (logSumExp, losses) = crossEntropyRowsForward(
    input, targets: targets, rows: rows, vocab: vocab, ignoreIndex: ignoreIndex)
  var total: Double = 0
  for i in 0..<rows where targets[i] != ignoreIndex {
    total += Double(rowsInfo.weight(i)) * Double(losses[i])
  }
  let loss = totalWeight > 0 ? Float(total / Double(totalWeight)) : 0
  guard let tape = logits.tape else { return Variable(Tensor(loss)) }
  let gl = logits.slot
  let saved = Box(input)
  return tape.record(Tensor(loss)) { tape, dLoss in
    // Take the logits out of the closure so that, if nothing else holds them, the gradient
    // is written in place of them.
    guard var dLogits = saved.take() else { return }
    let scale = totalWeight > 0 ? dLoss.item / totalWeight : 0
    dLogits.withUnsafeMutableBufferPointer { buffer in
      guard rows > 0 else { return }
      withUnsafePointers(logSumExp, targets) { lse, t in
        Kernels.crossEntropyBackward(
          logits: buffer.baseAddress!, targets: t, logSumExp: lse, rows: rows, vocab: vocab,
          ignoreIndex: ignoreIndex, scale: scale, dLogits: buffer.baseAddress!)
      }
      if weights != nil {
        for r in 0..<rows {
          let w = rowsInfo.weight(r)
          if w == 1 { continue }
          for j in 0..<vocab { buffer[r * vocab + j] *= w }
        }
      }
    }
    tape.accumulate(dLogits, into: gl)
  }
}

/// The log-probability of each row's target, `logits[target] − logsumexp(logits)` (0 for rows
/// whose target is `ignoreIndex`), as one tape node over the cross-entropy kernels: the per-token
/// log-likelihoods that sequence scores (DPO, reward models, evaluation) sum.
/// - Parameters:
///   - logits: `[…, vocab]`, one row per target.
///   - targets: class index per row (in `0..<vocab`), or `ignoreIndex`.
/// - Returns: `[rows]`.
public func tokenLogProbabilities(
  logits: Variable, targets: [Int32], ignoreIndex: Int32 = -100
) -> Variable {
  let rowsInfo = CrossEntropyRows(
    logitsShape: logits.shape, targets: targets, weights: nil, ignoreIndex: ignoreIndex)
  let (rows, vocab) = (rowsInfo.rows, rowsInfo.vocab)
  let input = logits.value.contiguous()
  let (logSumExp, losses) = crossEntropyRowsForward(
    input, targets: targets, rows: rows, vocab: vocab, ignoreIndex: ignoreIndex)
  let value = Tensor(losses.map { -$0 }, shape: [rows])
  guard let tape = logits.tape else { return Variable(value) }
  let gl = logits.slot
  let saved = Box(input)
  return tape.record(value) { tape, dy in
    guard var dLogits = saved.take() else { return }
    dLogits.withUnsafeMutableBufferPointer { buffer in
      guard rows > 0 else { return }
      withUnsafePointers(logSumExp, targets, dy) { lse, t, dy in
        // d(−lossᵣ)/dlogits = onehot − softmax, then scaled per row by dyᵣ.
        Kernels.crossEntropyBackward(
          logits: buffer.baseAddress!, targets: t, logSumExp: lse, rows: rows, vocab: vocab,
          ignoreIndex: ignoreIndex, scale: -1, dLogits: buffer.baseAddress!)
        for r in 0..<rows {
          for j in 0..<vocab { buffer[r * vocab + j] *= dy[r] }
        }
      }
    }
    tape.accumulate(dLogits, into: gl)
  }
}

extension Unfused {
  /// Softmax cross-entropy averaged over the counted positions, as PyTorch's
  /// `F.cross_entropy(logits, targets, ignore_index:)` (and, with `weights`, the weighted mean
  /// `Σ wᵢ·lossᵢ / Σ wᵢ` over positions whose target is not `ignoreIndex`). A batch with nothing
  /// counted gives 0.
  /// - Parameters:
  ///   - logits: `[…, vocab]`, one row per target.
  ///   - targets: class index per row, or `ignoreIndex`.
  ///   - weights: optional non-negative weight per row (a loss mask when 0/1).
  public static func crossEntropy(
    logits: Variable, targets: [Int32], weights: [Float]? = nil, ignoreIndex: Int32 = -100
  ) -> Variable {
    let selection = CrossEntropyRows(
      logitsShape: logits.shape, targets: targets, weights: weights, ignoreIndex: ignoreIndex)
    let (rows, vocab) = (selection.rows, selection.vocab)
    // Σᵢ (wᵢ / W) · log softmax(logitsᵢ)[targetᵢ] as a product with a constant selection matrix.
    let picks = Tensor(shape: [rows, vocab]) { out in
      for i in 0..<rows where selection.weight(i) != 0 {
        out[i * vocab + Int(targets[i])] = selection.weight(i) / selection.totalWeight
      }
    }
    return -(logits.reshaped([rows, vocab]).logSoftmax() * Variable(picks)).sum()
  }
}

extension Unfused {
  /// `log softmax(logits)[target]` per row (0 where the target is `ignoreIndex`), `[rows]`.
  public static func tokenLogProbabilities(
    logits: Variable, targets: [Int32], ignoreIndex: Int32 = -100
  ) -> Variable {
    let selection = CrossEntropyRows(
      logitsShape: logits.shape, targets: targets, weights: nil, ignoreIndex: ignoreIndex)
    let (rows, vocab) = (selection.rows, selection.vocab)
    let picks = Tensor(shape: [rows, vocab]) { out in
      for i in 0..<rows where targets[i] != ignoreIndex { out[i * vocab + Int(targets[i])] = 1 }
    }
    return (logits.reshaped([rows, vocab]).logSoftmax() * Variable(picks)).sum(axis: 1)
  }
}

/// The positions a cross-entropy counts and their weights, validated.
struct CrossEntropyRows {
  let rows: Int
  let vocab: Int
  let targets: [Int32]
  let weights: [Float]?
  let ignoreIndex: Int32
  /// Σ wᵢ over counted rows (their number without weights).
  let totalWeight: Float

  init(logitsShape: [Int], targets: [Int32], weights: [Float]?, ignoreIndex: Int32) {
    precondition(
      logitsShape.count >= 1 && logitsShape[logitsShape.count - 1] > 0,
      "crossEntropy: logits \(logitsShape) need a non-empty last (vocabulary) axis")
    vocab = logitsShape[logitsShape.count - 1]
    rows = logitsShape.reduce(1, *) / vocab
    precondition(
      targets.count == rows, "crossEntropy: \(targets.count) targets for logits \(logitsShape)")
    if let weights {
      precondition(
        weights.count == rows, "crossEntropy: \(weights.count) weights for \(rows) positions")
    }
    self.targets = targets
    self.weights = weights
    self.ignoreIndex = ignoreIndex
    var total: Double = 0
    for i in 0..<rows where targets[i] != ignoreIndex {
      precondition(
        targets[i] >= 0 && Int(targets[i]) < vocab,
        "crossEntropy: target \(targets[i]) at position \(i) outside 0..<\(vocab)")
      let w = weights?[i] ?? 1
      precondition(w >= 0 && w.isFinite, "crossEntropy: weight \(w) at position \(i)")
      total += Double(w)
    }
    totalWeight = Float(total)
  }

  /// The weight of row `i` (0 when ignored).
  func weight(_ i: Int) -> Float {
    targets[i] == ignoreIndex ? 0 : (weights?[i] ?? 1)
  }
}

/// The forward kernel over contiguous `[rows, vocab]` logits: each row's log-sum-exp (saved for
/// the backward) and its loss (0 for ignored rows).
private func crossEntropyRowsForward(
  _ input: Tensor, targets: [Int32], rows: Int, vocab: Int, ignoreIndex: Int32
) -> (logSumExp: Tensor, losses: [Float]) {
  var losses = [Float](repeating: 0, count: rows)
  let logSumExp = Tensor(unsafeUninitializedShape: [rows]) { lse in
    guard rows > 0 else { return }
    withUnsafePointers(input, targets) { x, t in
      losses.withUnsafeMutableBufferPointer { losses in
        _ = Kernels.crossEntropyForward(
          logits: x, targets: t, rows: rows, vocab: vocab, ignoreIndex: ignoreIndex,
          logSumExp: lse.baseAddress!, losses: losses.baseAddress!)
      }
    }
  }
  return (logSumExp, losses)
}
