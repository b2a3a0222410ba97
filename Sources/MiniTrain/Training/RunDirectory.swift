import Foundation

/// A training run's folder: `metrics.jsonl`, `config.json`, `checkpoints/`, the final model
/// directory `model/` (or a LoRA run's `adapter/`), `report.html`, for DPO
/// `reference_logps.safetensors`, and `eval/`, the results JSON of `minillm eval --task` on the
/// run's model.
public struct RunDirectory: Sendable {
  /// The folder.
  public let path: String

  /// The run at `path`.
  public init(path: String) { self.path = path }

  /// How to treat what is already in the folder.
  public enum Mode: Sendable {
    /// Refuse a folder that exists and is not empty.
    case fresh
    /// Continue what is there (the folder is created when absent).
    case resume
    /// Delete what an earlier run wrote (only the entries a run writes) and start over.
    case overwrite
  }

  /// Entries a run writes; `overwrite` deletes these and nothing else.
  public static let runEntries = [
    "checkpoints", "model", "adapter", "metrics.jsonl", "config.json", "report.html",
    "reference_logps.safetensors", "eval",
  ]

  /// `checkpoints/`.
  public var checkpoints: CheckpointStore { CheckpointStore(directory: path + "/checkpoints") }
  /// `metrics.jsonl`.
  public var metricsPath: String { path + "/metrics.jsonl" }
  /// `config.json` (the run's configuration).
  public var configurationPath: String { path + "/config.json" }
  /// `model/`, the final model directory.
  public var modelPath: String { path + "/model" }
  /// `adapter/`, the final adapters of a LoRA run (PEFT's files).
  public var adapterPath: String { path + "/adapter" }
  /// `report.html`.
  public var reportPath: String { path + "/report.html" }
  /// `reference_logps.safetensors`, a DPO run's reference log-likelihoods (see
  /// ``ReferenceLogProbabilities``).
  public var referenceLogProbabilitiesPath: String { path + "/reference_logps.safetensors" }
  /// `eval/`, the benchmark results of the run's model (see ``evaluationResultsPath(for:)``).
  public var evaluationPath: String { path + "/eval" }

  /// `eval/NAME.json`, the results JSON of the task or group `name` (characters other than
  /// letters, digits, `-`, `_` and `.` become `_`, and a leading `.` too).
  public func evaluationResultsPath(for name: String) -> String {
    var file = String(
      name.map { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) ? $0 : "_" })
    if file.isEmpty || file.hasPrefix(".") { file = "_" + file }
    return evaluationPath + "/" + file + ".json"
  }

  /// The results files in `eval/`, in name order (empty when there are none).
  public var evaluationResultsFiles: [String] {
    FileSystem.contents(of: evaluationPath).filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }
      .sorted().map { evaluationPath + "/" + $0 }
  }

  /// The run whose final model directory (`RUN/model`) `path` is: its parent folder when that
  /// holds the run's `metrics.jsonl`; nil for any other path (a GGUF file, another folder).
  public static func owning(model path: String) -> RunDirectory? {
    owning(path, entry: "model")
  }

  /// The run whose final adapters (`RUN/adapter`, a LoRA run's) `path` is, as
  /// ``owning(model:)`` finds it.
  public static func owning(adapter path: String) -> RunDirectory? {
    owning(path, entry: "adapter")
  }

  private static func owning(_ path: String, entry: String) -> RunDirectory? {
    let url = URL(fileURLWithPath: path).standardizedFileURL
    guard url.lastPathComponent == entry else { return nil }
    let run = RunDirectory(path: url.deletingLastPathComponent().path)
    guard FileManager.default.fileExists(atPath: run.metricsPath) else { return nil }
    return run
  }

  /// Creates or checks the folder for `mode`.
  /// - Throws: ``CheckpointError`` when `mode` is `fresh` and the folder is not empty, or when
  ///   the folder cannot be created or cleared.
  public func prepare(_ mode: Mode) throws {
    let existing = FileSystem.contents(of: path)
    switch mode {
    case .fresh:
      if !existing.isEmpty {
        throw CheckpointError(
          path: path,
          "not empty (\(existing.prefix(3).joined(separator: ", "))\(existing.count > 3 ? ", …" : "")); "
            + "resume the run or overwrite it")
      }
    case .resume:
      break
    case .overwrite:
      for name in Self.runEntries { try FileSystem.remove(path + "/" + name) }
    }
    try FileSystem.createDirectory(path)
  }

  /// Writes `config.json` atomically.
  public func writeConfiguration(_ bytes: [UInt8]) throws {
    try FileSystem.write(bytes, to: configurationPath)
  }
}
