#if canImport(Glibc)
  import Glibc
#endif

/// The learning rate of each step: linear warmup from 0, then a decay to a floor.
///
/// The formulas are transformers' `LambdaLR` factors, applied to update `step` (0-based, the
/// value of PyTorch's `scheduler.last_epoch` when `optimizer.step()` runs):
/// - `cosine`: `get_cosine_with_min_lr_schedule_with_warmup` (half a cosine from the peak to the
///   floor over `warmupSteps..<totalSteps`);
/// - `linear`: `get_linear_schedule_with_warmup` (build_MiniLLM_from_scratch's), decaying to the floor;
/// - `constant`: `get_constant_schedule_with_warmup`;
/// - `wsd`: `get_wsd_schedule` (warmup from the floor, stable at the peak, a cosine decay over
///   the last `decaySteps`).
///
/// With warmup, update 0 has learning rate 0 (as in transformers).
public struct LearningRateSchedule: Sendable, Codable, Equatable {
  /// The shape of the schedule.
  public enum Kind: String, Sendable, Codable, CaseIterable {
    /// Warmup, then cosine decay to the floor.
    case cosine
    /// Warmup, then linear decay to the floor.
    case linear
    /// Warmup, then the peak.
    case constant
    /// Warmup, stable at the peak, then a short cosine decay to the floor.
    case wsd
  }

  /// The shape.
  public var kind: Kind
  /// Learning rate after warmup.
  public var peakLearningRate: Float
  /// The floor the decay ends at.
  public var minimumLearningRate: Float
  /// Steps of linear warmup.
  public var warmupSteps: Int
  /// Steps of the whole run.
  public var totalSteps: Int
  /// Steps of the final decay (`wsd` only).
  public var decaySteps: Int

  /// A schedule; `decaySteps` defaults to a fifth of the run (`wsd` only).
  public init(
    kind: Kind, peakLearningRate: Float, minimumLearningRate: Float = 0, warmupSteps: Int = 0,
    totalSteps: Int, decaySteps: Int? = nil
  ) {
    precondition(
      warmupSteps >= 0 && totalSteps >= 0 && (decaySteps ?? 0) >= 0,
      "LearningRateSchedule: warmup \(warmupSteps), total \(totalSteps), decay \(decaySteps ?? 0)")
    self.kind = kind
    self.peakLearningRate = peakLearningRate
    self.minimumLearningRate = minimumLearningRate
    self.warmupSteps = warmupSteps
    self.totalSteps = totalSteps
    self.decaySteps = decaySteps ?? max(1, totalSteps / 5)
  }

  enum CodingKeys: String, CodingKey {
    case kind
    case peakLearningRate = "peak_learning_rate"
    case minimumLearningRate = "minimum_learning_rate"
    case warmupSteps = "warmup_steps"
    case totalSteps = "total_steps"
    case decaySteps = "decay_steps"
  }

  /// Decodes a stored schedule, checking every value.
  /// - Throws: `DecodingError.dataCorrupted` naming the first bad key.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    func count(_ key: CodingKeys) throws -> Int {
      let value = try c.decode(Int.self, forKey: key)
      guard value >= 0 else {
        throw DecodingError.dataCorruptedError(
          forKey: key, in: c, debugDescription: "\(key.rawValue) must be ≥ 0, got \(value)")
      }
      return value
    }
    func rate(_ key: CodingKeys) throws -> Float {
      let value = try c.decode(Float.self, forKey: key)
      guard value >= 0, value.isFinite else {
        throw DecodingError.dataCorruptedError(
          forKey: key, in: c,
          debugDescription: "\(key.rawValue) must be a finite number ≥ 0, got \(value)")
      }
      return value
    }
    self.init(
      kind: try c.decode(Kind.self, forKey: .kind), peakLearningRate: try rate(.peakLearningRate),
      minimumLearningRate: try rate(.minimumLearningRate), warmupSteps: try count(.warmupSteps),
      totalSteps: try count(.totalSteps), decaySteps: try count(.decaySteps))
  }

  /// The floor as a fraction of the peak.
  public var minimumRatio: Double {
    peakLearningRate == 0 ? 0 : Double(minimumLearningRate) / Double(peakLearningRate)
  }

  /// The multiplier of the peak learning rate at update `step` (0-based).
  public func factor(atStep step: Int) -> Double {
    let current = Double(step)
    let warmup = Double(warmupSteps)
    let total = Double(totalSteps)
    let floor = minimumRatio
    switch kind {
    case .cosine:
      if step < warmupSteps { return current / max(1, warmup) }
      let progress = (current - warmup) / max(1, total - warmup)
      let cosine = 0.5 * (1 + cos(Double.pi * 2 * 0.5 * progress))
      return max(0, cosine * (1 - floor) + floor)
    case .linear:
      if step < warmupSteps { return current / max(1, warmup) }
      let linear = max(0, (total - current) / max(1, total - warmup))
      return linear * (1 - floor) + floor
    case .constant:
      if step < warmupSteps { return current / max(1, warmup) }
      return 1
    case .wsd:
      let decay = Double(decaySteps)
      let stable = Double(max(0, totalSteps - warmupSteps - decaySteps))
      if step < warmupSteps {
        let progress = current / max(1, warmup)
        return max(0, progress * (1 - floor) + floor)
      }
      if current < warmup + stable { return 1 }
      if current < warmup + stable + decay {
        let progress = (current - warmup - stable) / max(1, decay)
        let cosine = 0.5 * (1 + cos(Double.pi * 2 * 0.5 * progress))
        return max(0, cosine * (1 - floor) + floor)
      }
      return floor
    }
  }

  /// The learning rate of update `step` (0-based).
  public func learningRate(atStep step: Int) -> Float {
    Float(Double(peakLearningRate) * factor(atStep: step))
  }
}
