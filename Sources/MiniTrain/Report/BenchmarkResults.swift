import Foundation
import MiniSupport

/// The scores of a results JSON in lm-evaluation-harness's layout, as `minillm eval --task
/// --output` and `lm_eval --output_path` write it: one ``Score`` per task (or group) and metric.
public struct BenchmarkResults: Sendable {
  /// One metric of one task or group.
  public struct Score: Sendable, Equatable {
    /// The task or group (`results` key).
    public var task: String
    /// The metric (`acc`, `acc_norm`, `exact_match`, …).
    public var metric: String
    /// The filter (`none`, `strict-match`, …).
    public var filter: String
    /// The value.
    public var value: Double
    /// The standard error (nil where the file says `N/A`).
    public var standardError: Double?
    /// Few-shot examples (`n-shot`; nil for a group).
    public var shots: Int?
    /// Documents evaluated (`n-samples` `effective`, else `sample_len`; nil for a group).
    public var samples: Int?

    public init(
      task: String, metric: String, filter: String = "none", value: Double,
      standardError: Double? = nil, shots: Int? = nil, samples: Int? = nil
    ) {
      self.task = task
      self.metric = metric
      self.filter = filter
      self.value = value
      self.standardError = standardError
      self.shots = shots
      self.samples = samples
    }
  }

  /// The scores: a group's subtasks before the group, tasks in name order, metrics in name
  /// order within a task.
  public var scores: [Score]

  /// The scores of `task` by metric name (filter `none`).
  public func metrics(of task: String) -> [String: Score] {
    var metrics: [String: Score] = [:]
    for score in scores where score.task == task && score.filter == "none" {
      metrics[score.metric] = score
    }
    return metrics
  }

  /// Reads the results JSON at `path`.
  /// - Throws: ``CheckpointError`` naming the file when it cannot be read, is not JSON, or has no
  ///   `results` object of per-task objects.
  public init(contentsOf path: String) throws(CheckpointError) {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CheckpointError(path: path, "cannot be read")
    }
    let object: Any
    do {
      object = try JSONSerialization.jsonObject(with: data)
    } catch {
      throw CheckpointError(path: path, "not JSON")
    }
    guard let root = object as? [String: Any] else {
      throw CheckpointError(path: path, "not a JSON object")
    }
    try self.init(jsonObject: root, origin: path)
  }

  /// Reads a results JSON object; `origin` names it in errors.
  /// - Throws: ``CheckpointError`` when `results` is missing or holds something other than
  ///   per-task objects.
  public init(jsonObject root: [String: Any], origin: String) throws(CheckpointError) {
    guard let results = root["results"] as? [String: Any] else {
      throw CheckpointError(path: origin, "no \"results\" object: not a results JSON")
    }
    let shots = root["n-shot"] as? [String: Any] ?? [:]
    let counts = root["n-samples"] as? [String: Any] ?? [:]
    var byTask: [String: [Score]] = [:]
    for (task, entry) in results {
      guard let members = entry as? [String: Any] else {
        throw CheckpointError(path: origin, "results.\(task): not an object")
      }
      let samples =
        ((counts[task] as? [String: Any])?["effective"] as? NSNumber)?.intValue
        ?? (members["sample_len"] as? NSNumber)?.intValue
      var scores: [Score] = []
      for (key, value) in members {
        guard let comma = key.firstIndex(of: ","), !key.contains("_stderr,") else { continue }
        guard let number = value as? NSNumber else {
          if value as? String == "N/A" { continue }  // a metric the harness could not compute
          throw CheckpointError(path: origin, "results.\(task).\(key): not a number")
        }
        let (metric, filter) = (String(key[..<comma]), String(key[key.index(after: comma)...]))
        scores.append(
          Score(
            task: task, metric: metric, filter: filter, value: number.doubleValue,
            standardError: (members["\(metric)_stderr,\(filter)"] as? NSNumber)?.doubleValue,
            shots: (shots[task] as? NSNumber)?.intValue, samples: samples))
      }
      byTask[task] = scores.sorted { ($0.metric, $0.filter) < ($1.metric, $1.filter) }
    }
    // Subtasks before their group, as the harness's table lists them.
    let children = root["group_subtasks"] as? [String: Any] ?? [:]
    var ordered: [Score] = []
    var placed = Set<String>()
    func place(_ task: String) {
      guard !placed.contains(task) else { return }
      placed.insert(task)
      for child in ((children[task] as? [String]) ?? []).sorted() { place(child) }
      ordered += byTask[task] ?? []
    }
    let nested = Set(children.values.compactMap { $0 as? [String] }.joined())
    for task in byTask.keys.sorted() where !nested.contains(task) { place(task) }
    for task in byTask.keys.sorted() { place(task) }
    scores = ordered
  }

  /// `0.3170 ± 0.0600` (`decimals` digits; no `±` part without a standard error).
  public static func scoreText(_ value: Double, _ standardError: Double?, decimals: Int = 4)
    -> String
  {
    let format = "%.\(decimals)f"
    return String(format: format, value)
      + (standardError.map { " ± " + String(format: format, $0) } ?? "")
  }

  /// The scores as an HTML table: task, metric, filter, value ± standard error, n-shot,
  /// samples; every cell escaped.
  public func htmlTable() -> String {
    HTMLTable(
      header: ["task", "metric", "filter", "value ± stderr", "n-shot", "samples"],
      rows: scores.map { score in
        [
          HTMLTable.Cell(score.task), HTMLTable.Cell(score.metric), HTMLTable.Cell(score.filter),
          HTMLTable.Cell(Self.scoreText(score.value, score.standardError), numeric: true),
          HTMLTable.Cell(score.shots.map(String.init) ?? "", numeric: true),
          HTMLTable.Cell(score.samples.map(String.init) ?? "", numeric: true),
        ]
      }
    ).html()
  }
}
