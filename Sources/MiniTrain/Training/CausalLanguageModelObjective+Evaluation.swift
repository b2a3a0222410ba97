extension CausalLanguageModelObjective {
  /// The mean next-token loss over the first `count` windows of `windows`, in batches of
  /// `batchSize` windows, without a tape (`minillm eval`).
  /// - Parameter progress: called after each batch with the windows done, the mean loss so far
  ///   and the tokens predicted so far.
  /// - Returns: the mean loss over every predicted token, and their number.
  public func meanLoss(
    over windows: TokenWindows, count: Int, batchSize: Int,
    progress: (_ done: Int, _ loss: Double, _ tokens: Int) -> Void = { _, _, _ in }
  ) throws -> (loss: Double, tokens: Int) {
    var lossSum = 0.0
    var tokens = 0
    var done = 0
    while done < count {
      let end = min(count, done + batchSize)
      let batch = try windows.batch(done..<end)
      lossSum += Double(loss(on: batch, tape: nil).loss.value.item) * Double(batch.targetCount)
      tokens += batch.targetCount
      done = end
      progress(done, lossSum / Double(tokens), tokens)
    }
    return (lossSum / Double(tokens), tokens)
  }
}
