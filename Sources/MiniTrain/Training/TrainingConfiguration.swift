/// How the ``Trainer`` loop runs: length, accumulation, clipping, and the cadence of
/// evaluation and checkpoints.
public struct TrainingConfiguration: Sendable, Codable, Equatable {
  /// Optimizer steps of the whole run (skipped steps count).
  public var totalSteps: Int
  /// Micro-batches per optimizer step (the step's batch is `accumulationSteps` micro-batches on
  /// every rank).
  public var accumulationSteps: Int
  /// Global-norm gradient clipping threshold (`nil`: no clipping).
  public var maxGradientNorm: Float?
  /// Evaluate every this many steps (0: only at the end).
  public var evaluateEvery: Int
  /// Write a checkpoint every this many steps (0: only at the end and when stopped).
  public var checkpointEvery: Int
  /// Checkpoints kept (the newest).
  public var keepLast: Int
  /// Also keep checkpoints whose step is a multiple of this (0: none).
  public var keepEvery: Int
  /// Non-finite steps in a row that trigger a rollback to the last checkpoint.
  public var maxConsecutiveSkips: Int
  /// Rollbacks allowed in one run before training stops with an error.
  public var maxRollbacks: Int

  /// A configuration; the defaults keep 3 checkpoints and roll back after 3 bad steps.
  public init(
    totalSteps: Int, accumulationSteps: Int = 1, maxGradientNorm: Float? = 1,
    evaluateEvery: Int = 0, checkpointEvery: Int = 0, keepLast: Int = 3, keepEvery: Int = 0,
    maxConsecutiveSkips: Int = 3, maxRollbacks: Int = 5
  ) {
    self.totalSteps = totalSteps
    self.accumulationSteps = accumulationSteps
    self.maxGradientNorm = maxGradientNorm
    self.evaluateEvery = evaluateEvery
    self.checkpointEvery = checkpointEvery
    self.keepLast = keepLast
    self.keepEvery = keepEvery
    self.maxConsecutiveSkips = maxConsecutiveSkips
    self.maxRollbacks = maxRollbacks
  }

  /// Checks every value.
  /// - Throws: ``TrainerError/invalidConfiguration(_:)`` naming the field.
  public func validate() throws {
    func check(_ condition: Bool, _ message: String) throws {
      if !condition { throw TrainerError.invalidConfiguration(message) }
    }
    try check(totalSteps >= 0, "total_steps must be ≥ 0, got \(totalSteps)")
    try check(accumulationSteps >= 1, "accumulation_steps must be ≥ 1, got \(accumulationSteps)")
    if let maxGradientNorm {
      try check(
        maxGradientNorm > 0 && maxGradientNorm.isFinite,
        "max_gradient_norm must be > 0, got \(maxGradientNorm)")
    }
    try check(evaluateEvery >= 0, "evaluate_every must be ≥ 0, got \(evaluateEvery)")
    try check(checkpointEvery >= 0, "checkpoint_every must be ≥ 0, got \(checkpointEvery)")
    try check(keepLast >= 1, "keep_last must be ≥ 1, got \(keepLast)")
    try check(keepEvery >= 0, "keep_every must be ≥ 0, got \(keepEvery)")
    try check(maxConsecutiveSkips >= 1, "max_consecutive_skips must be ≥ 1")
    try check(maxRollbacks >= 0, "max_rollbacks must be ≥ 0")
  }

  enum CodingKeys: String, CodingKey {
    case totalSteps = "total_steps"
    case accumulationSteps = "accumulation_steps"
    case maxGradientNorm = "max_gradient_norm"
    case evaluateEvery = "evaluate_every"
    case checkpointEvery = "checkpoint_every"
    case keepLast = "keep_last"
    case keepEvery = "keep_every"
    case maxConsecutiveSkips = "max_consecutive_skips"
    case maxRollbacks = "max_rollbacks"
  }
}

/// Why training stopped with an error.
public enum TrainerError: Error, CustomStringConvertible {
  /// A configuration value is out of range.
  case invalidConfiguration(String)
  /// Too many non-finite steps in a row and no checkpoint to roll back to, or too many
  /// rollbacks.
  case diverged(step: Int, reason: String)
  /// Not enough free space for a checkpoint that must be written.
  case insufficientDiskSpace(path: String, needed: Int, available: Int)

  /// One line.
  public var description: String {
    switch self {
    case .invalidConfiguration(let message): "invalid training configuration: \(message)"
    case .diverged(let step, let reason): "training diverged at step \(step): \(reason)"
    case .insufficientDiskSpace(let path, let needed, let available):
      "\(path): not enough free disk space for a checkpoint (needs about "
        + "\(needed / 1_048_576) MiB, \(available / 1_048_576) MiB free)"
    }
  }
}
