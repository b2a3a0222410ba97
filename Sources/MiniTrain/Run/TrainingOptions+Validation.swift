extension TrainingOptions {
  /// Checks the range of every setting given (nil ones are not checked): rates, decay, betas
  /// and clip finite; lengths, batch sizes and the learning rate positive; counts and
  /// intervals not negative; betas in [0, 1); the held-out fraction in [0, 0.5).
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming the first setting out of range by its
  ///   `minillm` flag (`--lr: must be > 0, got -1.0`).
  public func validate() throws {
    func finite<T: BinaryFloatingPoint>(_ value: T?, _ flag: String) throws {
      if let value, !value.isFinite {
        throw TrainingRunError.setting(flag, "must be finite, got \(value)")
      }
    }
    func positive<T: Numeric & Comparable>(_ value: T?, _ flag: String, allowZero: Bool = false)
      throws
    {
      guard let value, allowZero ? value < 0 : value <= 0 else { return }
      throw TrainingRunError.setting(flag, "must be \(allowZero ? "≥ 0" : "> 0"), got \(value)")
    }
    for (value, flag) in [
      (learningRate, "--lr"), (minimumLearningRate, "--min-lr"), (weightDecay, "--weight-decay"),
      (beta1, "--beta1"), (beta2, "--beta2"), (clip, "--clip"),
    ] {
      try finite(value, flag)
    }
    try finite(epochs, "--epochs")
    try finite(evalFraction, "--eval-fraction")
    try positive(steps, "--steps", allowZero: true)
    try positive(epochs, "--epochs")
    try positive(batchSize, "--batch-size")
    try positive(microBatchSize, "--micro-batch-size")
    try positive(learningRate, "--lr")
    try positive(minimumLearningRate, "--min-lr", allowZero: true)
    try positive(warmupSteps, "--warmup-steps", allowZero: true)
    try positive(decaySteps, "--decay-steps")
    try positive(weightDecay, "--weight-decay", allowZero: true)
    try positive(clip, "--clip", allowZero: true)
    try positive(evaluateEvery, "--eval-every", allowZero: true)
    try positive(evalBatches, "--eval-batches", allowZero: true)
    try positive(checkpointEvery, "--save-every", allowZero: true)
    try positive(keep, "--keep")
    try positive(keepEvery, "--keep-every", allowZero: true)
    for (value, flag) in [(beta1, "--beta1"), (beta2, "--beta2")] {
      if let value, !(value >= 0 && value < 1) {
        throw TrainingRunError.setting(flag, "must be in [0, 1), got \(value)")
      }
    }
    if let evalFraction, !(evalFraction >= 0 && evalFraction < 0.5) {
      throw TrainingRunError.setting("--eval-fraction", "must be in [0, 0.5), got \(evalFraction)")
    }
  }
}
