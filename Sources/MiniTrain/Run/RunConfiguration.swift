import Foundation

/// What a stage stores in `RUN/config.json` besides the ``TrainingSettings`` (model, data, …).
public protocol StageSettings: Codable, Equatable, Sendable {
  /// The `stage` key of `config.json` (`pretrain`, `sft`, …).
  static var stage: String { get }
  /// The stage's own settings that a resumed run must share with the stored ones, as
  /// `flag: stored → given`.
  func structuralDifferences(from stored: Self) -> [String]
}

/// `RUN/config.json`: one flat JSON object holding `stage`, the stage's settings and the
/// training settings.
public struct RunConfiguration<Stage: StageSettings>: Codable, Equatable, Sendable {
  /// The stage's own settings.
  public var stage: Stage
  /// The settings every stage shares.
  public var training: TrainingSettings

  private enum Keys: String, CodingKey { case stage }

  /// A configuration from its two parts.
  public init(stage: Stage, training: TrainingSettings) {
    self.stage = stage
    self.training = training
  }

  public init(from decoder: any Decoder) throws {
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

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: Keys.self)
    try container.encode(Stage.stage, forKey: .stage)
    try stage.encode(to: encoder)
    try training.encode(to: encoder)
  }

  /// The file's bytes: pretty-printed, keys sorted, a final newline.
  public func encoded() throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return Array(try encoder.encode(self)) + [0x0A]
  }

  /// Reads `path`.
  /// - Throws: ``TrainingRunError/file(_:_:)`` naming the file.
  public static func read(_ path: String) throws -> Self {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw TrainingRunError.file(path, "cannot read")
    }
    do {
      return try JSONDecoder().decode(Self.self, from: data)
    } catch {
      throw TrainingRunError.file(
        path, "not a `minillm \(Stage.stage)` run configuration: \(error)")
    }
  }

  /// The settings of both parts that a resumed run must share with `stored`.
  public func structuralDifferences(from stored: Self) -> [String] {
    stage.structuralDifferences(from: stored.stage)
      + training.structuralDifferences(from: stored.training)
  }
}

/// Why a training run cannot start or go on; the description is one line naming the setting
/// (by its `minillm` flag) or the file at fault.
public enum TrainingRunError: Error, CustomStringConvertible, Equatable {
  /// A setting is wrong, or the input it names cannot be used: `(flag, message)`.
  case setting(String, String)
  /// A file cannot be read or is not what it should be: `(path, message)`.
  case file(String, String)
  /// Another process of the run failed and reported its own error.
  case otherProcessFailed
  /// The error of a process other than rank 0: `(rank, message)`.
  case rank(Int, String)
  /// The weights of these ranks differ from rank 0's after training.
  case weightsDiffer([Int])

  public var description: String {
    switch self {
    case .setting(let flag, let message): "\(flag): \(message)"
    case .file(let path, let message): "\(path): \(message)"
    case .otherProcessFailed: "another process of the run failed"
    case .rank(let rank, let message): "rank \(rank): \(message)"
    case .weightsDiffer(let ranks):
      "the weights of rank\(ranks.count == 1 ? "" : "s") "
        + ranks.map(String.init).joined(separator: ", ")
        + " differ from rank 0's after training (the ranks' gradient sums disagreed)"
    }
  }
}
