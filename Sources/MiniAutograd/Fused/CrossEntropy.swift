import MiniTensor

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
