import ArgumentParser
import Foundation
import MiniTrain

/// The settings every training stage shares, resolved from ``TrainingFlags``.
struct TrainingSettings: Codable, Equatable {
  var batchSize: Int
  var microBatchSize: Int
  /// Seed of the data order (and, for pretraining, of the initial weights).
  var seed: UInt64
  var evalFraction: Double
  var evalBatches: Int
  var epochs: Double?
  var training: TrainingConfiguration
  var schedule: LearningRateSchedule
  var optimizer: AdamW

  enum CodingKeys: String, CodingKey {
    case seed, epochs, training, schedule, optimizer
    case batchSize = "batch_size"
    case microBatchSize = "micro_batch_size"
    case evalFraction = "eval_fraction"
    case evalBatches = "eval_batches"
  }

  /// The differences that stop a resumed run from continuing exactly, as `flag: stored → given`.
  func structuralDifferences(from stored: TrainingSettings) -> [String] {
    var result: [String] = []
    func compare<T: Equatable>(_ flag: String, _ mine: T, _ theirs: T) {
      if mine != theirs { result.append("\(flag): \(theirs) → \(mine)") }
    }
    compare("--batch-size", batchSize, stored.batchSize)
    compare("--micro-batch-size", microBatchSize, stored.microBatchSize)
    compare("--seed", seed, stored.seed)
    compare("--eval-fraction", evalFraction, stored.evalFraction)
    return result
  }
}

/// What a stage stores in `RUN/config.json` besides the ``TrainingSettings`` (model, data, …).
protocol StageSettings: Codable, Equatable {
  /// The `stage` key of `config.json` (`pretrain`, `sft`, …).
  static var stage: String { get }
  /// The stage's own settings that a resumed run must share with the stored ones, as
  /// `flag: stored → given`.
  func structuralDifferences(from stored: Self) -> [String]
}

/// `RUN/config.json`: one flat JSON object holding `stage`, the stage's settings and the
/// training settings.
struct RunConfiguration<Stage: StageSettings>: Codable, Equatable {
  var stage: Stage
  var training: TrainingSettings

  private enum Keys: String, CodingKey { case stage }

  init(stage: Stage, training: TrainingSettings) {
    self.stage = stage
    self.training = training
  }

  init(from decoder: any Decoder) throws {
    let name = try decoder.container(keyedBy: Keys.self).decode(String.self, forKey: .stage)
    guard name == Stage.stage else {
      throw DecodingError.dataCorrupted(
        .init(
          codingPath: [Keys.stage],
          debugDescription: "written by `minillm \(name)`, not `minillm \(Stage.stage)`"))
    }
    stage = try Stage(from: decoder)
    training = try TrainingSettings(from: decoder)
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: Keys.self)
    try container.encode(Stage.stage, forKey: .stage)
    try stage.encode(to: encoder)
    try training.encode(to: encoder)
  }

  func encoded() throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return Array(try encoder.encode(self)) + [0x0A]
  }

  static func read(_ path: String) throws -> Self {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CommandLineError("\(path): cannot read")
    }
    do {
      return try JSONDecoder().decode(Self.self, from: data)
    } catch {
      throw CommandLineError("\(path): not a `minillm \(Stage.stage)` run configuration: \(error)")
    }
  }

  func structuralDifferences(from stored: Self) -> [String] {
    stage.structuralDifferences(from: stored.stage)
      + training.structuralDifferences(from: stored.training)
  }
}

/// The run-folder flags of every training command: `--out`, `--resume`, `--overwrite`.
struct RunFlags: ParsableArguments {
  @Option(help: "Run folder (metrics, checkpoints, final model).")
  var out: String

  @Flag(help: "Continue RUN from its newest valid checkpoint (from the start when it has none).")
  var resume = false

  @Flag(help: "Delete what an earlier run wrote in RUN and start over.")
  var overwrite = false

  func validate() throws {
    if resume && overwrite { throw ValidationError("give at most one of --resume and --overwrite") }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: out, isDirectory: &isDirectory),
      !isDirectory.boolValue
    {
      throw ValidationError("--out: \(out) exists and is not a folder (give the run folder)")
    }
  }

  /// The run folder.
  var run: RunDirectory { RunDirectory(path: out) }

  /// The configuration an earlier session stored in `RUN/config.json`, when resuming a run
  /// that has one.
  func storedConfiguration<Stage: StageSettings>(_: Stage.Type) throws -> RunConfiguration<
    Stage
  >? {
    guard resume, FileManager.default.fileExists(atPath: run.configurationPath) else {
      return nil
    }
    return try RunConfiguration<Stage>.read(run.configurationPath)
  }

  /// Checks that `configuration` can continue `stored` exactly.
  /// - Throws: one line naming the flags that differ from the stored run.
  func checkResumable<Stage: StageSettings>(
    _ configuration: RunConfiguration<Stage>, stored: RunConfiguration<Stage>
  ) throws {
    let differences = configuration.structuralDifferences(from: stored)
    if !differences.isEmpty {
      throw CommandLineError(
        "--resume: \(run.configurationPath) was written with other settings, so the checkpoint "
          + "cannot continue exactly (" + differences.joined(separator: "; ")
          + "); drop those flags or start a new run")
    }
  }

  /// Checks that `configuration` can continue `stored` exactly, prepares the folder (fresh,
  /// resumed or overwritten) and writes `RUN/config.json`.
  /// - Throws: one line naming the flags that differ from the stored run, or why the folder
  ///   cannot be used.
  func prepare<Stage: StageSettings>(
    _ configuration: RunConfiguration<Stage>, stored: RunConfiguration<Stage>?
  ) throws -> RunDirectory {
    let run = self.run
    if let stored { try checkResumable(configuration, stored: stored) }
    do {
      try run.prepare(resume ? .resume : overwrite ? .overwrite : .fresh)
    } catch let error as CheckpointError {
      let hint = error.message.replacingOccurrences(
        of: "resume the run or overwrite it",
        with: "pass --resume to continue it or --overwrite to start over")
      throw CommandLineError("--out: \(error.path) is \(hint)")
    }
    try run.writeConfiguration(configuration.encoded())
    return run
  }
}
