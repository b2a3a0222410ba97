import Foundation
import MiniTensor

/// A value in a metrics record.
public enum MetricValue: Sendable, Equatable {
  /// An integer.
  case int(Int)
  /// A number (`null` in JSON when not finite).
  case number(Double)
  /// A `Float` written with the shortest digits that read back to the same `Float`.
  case float(Float)
  /// A flag.
  case bool(Bool)
  /// Text.
  case string(String)

  var json: String {
    switch self {
    case .int(let value): String(value)
    case .number(let value): value.isFinite ? "\(value)" : "null"
    case .float(let value): value.isFinite ? "\(value)" : "null"
    case .bool(let value): value ? "true" : "false"
    case .string(let value): jsonStringLiteral(value)
    }
  }

}

/// `metrics.jsonl`: one JSON object per line, appended and flushed as training goes.
///
/// Step lines: `{"step", "loss", "lr", "grad_norm", "tokens", "tokens_per_s", "elapsed",
/// "skipped", "epoch", …}`; evaluation lines: `{"step", "eval_loss", "eval_perplexity",
/// "eval_tokens", "eval_<metric>"…}`; event lines: `{"step", "event", …}`.
public final class MetricsLog {
  /// The file.
  public let path: String
  private let handle: FileHandle

  /// Opens `path` for appending (created when absent).
  public init(path: String) throws {
    self.path = path
    if !FileManager.default.fileExists(atPath: path) {
      guard FileManager.default.createFile(atPath: path, contents: nil) else {
        throw CheckpointError(path: path, "cannot create")
      }
    }
    guard let handle = FileHandle(forWritingAtPath: path) else {
      throw CheckpointError(path: path, "cannot open for writing")
    }
    handle.seekToEndOfFile()
    self.handle = handle
  }

  deinit { try? handle.close() }

  /// Appends one record as a line, keys in the given order.
  public func append(_ fields: [(String, MetricValue)]) throws {
    let line =
      "{" + fields.map { jsonStringLiteral($0.0) + ": " + $0.1.json }.joined(separator: ", ")
      + "}\n"
    do {
      try handle.write(contentsOf: Data(line.utf8))
    } catch {
      throw CheckpointError(path: path, "cannot append: \(error.localizedDescription)")
    }
  }

  /// The records of a metrics file, each a JSON object; lines that do not parse (a line cut by
  /// a crash) are left out.
  public static func read(path: String) -> [[String: Any]] {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    var records: [[String: Any]] = []
    for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
      if let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any] {
        records.append(object)
      }
    }
    return records
  }

  /// Rewrites `path` (atomically) keeping only whole records whose `step` is at most `step`:
  /// what a run resumed from the checkpoint of `step` has already logged.
  public static func truncate(path: String, throughStep step: Int) throws {
    guard let data = FileManager.default.contents(atPath: path) else { return }
    var kept: [UInt8] = []
    for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
      guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
        let lineStep = object["step"] as? Int, lineStep <= step
      else { continue }
      kept += line
      kept.append(UInt8(ascii: "\n"))
    }
    try FileSystem.write(kept, to: path)
  }
}
