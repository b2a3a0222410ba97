internal import CKernels

extension Kernels {
  /// Cross-entropy of each row of logits against an integer target:
  /// `loss = logsumexp(logits) − logits[target]`.
  ///
  /// Each row is read once from memory (online log-sum-exp over cache-sized blocks), so large
  /// vocabularies cost one streaming pass.
  /// - Parameters:
  ///   - logits: `[rows, vocab]`.
  ///   - targets: `[rows]`, each in `0..<vocab` or equal to `ignoreIndex`.
  ///   - logSumExp: `[rows]`, receives each row's log-sum-exp for the backward pass (0 for
  ///     ignored rows).
  ///   - losses: `[rows]`, receives each row's loss (0 for ignored rows).
  /// - Returns: the sum of the losses in `Double` (in row order, so independent of threads) and
  ///   the number of rows counted (not ignored).
  /// - Precondition: every target is in `0..<vocab` or equals `ignoreIndex`.
  @discardableResult
  package static func crossEntropyForward(
    logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, rows: Int, vocab: Int,
    ignoreIndex: Int32 = -100, logSumExp: UnsafeMutablePointer<Float>,
    losses: UnsafeMutablePointer<Float>
  ) -> (sum: Double, counted: Int) {
    precondition(rows >= 0 && vocab > 0, "crossEntropyForward: rows \(rows), vocab \(vocab)")
    checkTargets(targets, rows: rows, vocab: vocab, ignoreIndex: ignoreIndex, "crossEntropyForward")
    parallelFor(rows, grain: rowGrain(width: 2 * vocab)) { range in
      for r in range {
        let target = targets[r]
        if target == ignoreIndex {
          logSumExp[r] = 0
          losses[r] = 0
          continue
        }
        let row = logits + r * vocab
        let lse = Self.logSumExp(row, vocab)
        logSumExp[r] = Float(lse)
        losses[r] = Float(lse - Double(row[Int(target)]))
      }
    }
    var total: Double = 0
    var counted = 0
    for r in 0..<rows where targets[r] != ignoreIndex {
      total += Double(losses[r])
      counted += 1
    }
    return (total, counted)
  }

  /// Gradient of `scale · Σ_rows loss` with respect to the logits:
  /// `(softmax(logits) − onehot(target)) · scale`, rows of zeros for ignored targets.
  ///
  /// - Parameters:
  ///   - logits, targets, ignoreIndex: as given to `crossEntropyForward`.
  ///   - logSumExp: the `[rows]` saved by `crossEntropyForward`.
  ///   - scale: usually `1 / counted`, or upstream gradient `/ counted`.
  ///   - dLogits: `[rows, vocab]`, overwritten; may be the same buffer as `logits` (in place).
  package static func crossEntropyBackward(
    logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, logSumExp: UnsafePointer<Float>,
    rows: Int, vocab: Int, ignoreIndex: Int32 = -100, scale: Float,
    dLogits: UnsafeMutablePointer<Float>
  ) {
    precondition(rows >= 0 && vocab > 0, "crossEntropyBackward: rows \(rows), vocab \(vocab)")
    checkTargets(
      targets, rows: rows, vocab: vocab, ignoreIndex: ignoreIndex, "crossEntropyBackward")
    let kernels = activeKernels
    parallelFor(rows, grain: rowGrain(width: 2 * vocab)) { range in
      for r in range {
        let target = targets[r]
        let row = logits + r * vocab
        let out = dLogits + r * vocab
        if target == ignoreIndex {
          out.update(repeating: 0, count: vocab)
          continue
        }
        kernels.exp_scaled_row(row, out, vocab, logSumExp[r], scale)
        out[Int(target)] -= scale
      }
    }
  }

  private static func checkTargets(
    _ targets: UnsafePointer<Int32>, rows: Int, vocab: Int, ignoreIndex: Int32, _ name: String
  ) {
    for r in 0..<rows {
      let t = targets[r]
      precondition(
        t == ignoreIndex || (t >= 0 && Int(t) < vocab),
        "\(name): target \(t) at row \(r) is outside 0..<\(vocab) and not ignoreIndex \(ignoreIndex)"
      )
    }
  }
}
