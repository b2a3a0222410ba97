import Foundation

/// The trainer's counters: what `trainer_state.json` restores besides the model, the optimizer
/// and the data position.
public struct TrainingProgress: Sendable, Codable, Equatable {
  /// Optimizer steps taken (skipped ones included).
  public var step = 0
  /// Tokens trained on (over all ranks).
  public var tokensSeen = 0
  /// Steps skipped for a non-finite loss or gradient norm.
  public var skippedSteps = 0
  /// Non-finite steps in a row just now (the loss-spike detector's state).
  public var consecutiveSkips = 0
  /// Rollbacks to a checkpoint so far.
  public var rollbacks = 0
  /// Training time so far, over every session of the run.
  public var elapsedSeconds = 0.0
  /// The last evaluation loss.
  public var lastEvaluationLoss: Double?

  /// The start of a run.
  public init() {}

  enum CodingKeys: String, CodingKey {
    case step
    case tokensSeen = "tokens_seen"
    case skippedSteps = "skipped_steps"
    case consecutiveSkips = "consecutive_skips"
    case rollbacks
    case elapsedSeconds = "elapsed_seconds"
    case lastEvaluationLoss = "last_eval_loss"
  }
}

/// `trainer_state.json`: progress, schedule, data position (with its RNG state), the
/// configuration and the optimizer's name.
struct TrainerStateFile<Cursor: Codable>: Codable {
  var format = "minillm-trainer-state"
  var version = 1
  var progress: TrainingProgress
  var learningRate: Float
  var schedule: LearningRateSchedule
  var dataCursor: Cursor
  var configuration: TrainingConfiguration
  var optimizer: String

  static var fileName: String { "trainer_state.json" }

  enum CodingKeys: String, CodingKey {
    case format, version, progress, schedule, configuration, optimizer
    case learningRate = "learning_rate"
    case dataCursor = "data_cursor"
  }

  func encoded() throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return Array(try encoder.encode(self)) + [0x0A]
  }

  static func read(_ path: String) throws -> TrainerStateFile {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CheckpointError(path: path, "missing")
    }
    let state: TrainerStateFile
    do {
      state = try JSONDecoder().decode(TrainerStateFile.self, from: data)
    } catch {
      throw CheckpointError(path: path, "not a trainer state: \(error)")
    }
    guard state.format == "minillm-trainer-state", state.version == 1 else {
      throw CheckpointError(
        path: path, "format \(state.format) version \(state.version) is not supported")
    }
    if let problem = state.progress.problem ?? state.learningRateProblem {
      throw CheckpointError(path: path, problem)
    }
    return state
  }

  /// What is wrong with the stored learning rate, if anything.
  var learningRateProblem: String? {
    learningRate.isFinite && learningRate >= 0
      ? nil : "learning_rate must be a finite number ≥ 0, got \(learningRate)"
  }
}

extension TrainingProgress {
  /// The largest token count a checkpoint may hold (2⁵⁶: far beyond any run, far from overflow).
  static let maximumTokens = 1 << 56

  /// What is wrong with counters read from a checkpoint (the first field out of range), if
  /// anything; `nil` for counters a run can continue from.
  var problem: String? {
    func outside(_ value: Int, _ range: ClosedRange<Int>, _ field: String) -> String? {
      range.contains(value) ? nil : "progress.\(field) must be in \(range), got \(value)"
    }
    return outside(step, 0...maximumStoredStep, "step")
      ?? outside(tokensSeen, 0...Self.maximumTokens, "tokens_seen")
      ?? outside(skippedSteps, 0...maximumStoredStep, "skipped_steps")
      ?? outside(consecutiveSkips, 0...maximumStoredStep, "consecutive_skips")
      ?? outside(rollbacks, 0...maximumStoredStep, "rollbacks")
      ?? (elapsedSeconds.isFinite && elapsedSeconds >= 0
        ? nil : "progress.elapsed_seconds must be a finite number ≥ 0, got \(elapsedSeconds)")
  }
}

/// One optimizer step's figures.
public struct StepReport: Sendable, Equatable {
  /// Steps taken after this one (1 for the first).
  public var step: Int
  /// Mean loss over the step's batch (all micro-batches and ranks).
  public var loss: Float
  /// Learning rate of the update.
  public var learningRate: Float
  /// Global gradient norm before clipping.
  public var gradientNorm: Float
  /// Whether the update was skipped (non-finite loss or gradient norm).
  public var skipped: Bool
  /// Tokens in the step's batch (all ranks).
  public var tokens: Int
  /// Wall time of the step.
  public var seconds: Double
  /// The objective's extra figures, averaged.
  public var metrics: [String: Double]
  /// The objective's counts, summed over the step's micro-batches and ranks.
  public var counts: [String: Double] = [:]
  /// The data loader's epoch after the step.
  public var epoch: Int
}

/// The figures of one evaluation.
public struct EvaluationReport: Sendable, Equatable {
  /// Step the evaluation followed.
  public var step: Int
  /// Mean loss over the evaluation batches.
  public var loss: Double
  /// `exp(loss)`.
  public var perplexity: Double { exp(loss) }
  /// Tokens evaluated.
  public var tokens: Int
  /// The objective's extra figures, averaged by batch weight (logged as `eval_<name>`).
  public var metrics: [String: Double] = [:]
}

/// How a ``Trainer/run()`` ended.
public struct TrainingSummary: Sendable, Equatable {
  /// The counters at the end.
  public var progress: TrainingProgress
  /// Whether a stop request ended the run before its last step.
  public var stoppedEarly: Bool
  /// The last step's loss, if a step ran.
  public var finalLoss: Float?
  /// The final evaluation, if any.
  public var finalEvaluation: EvaluationReport?
}
