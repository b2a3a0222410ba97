import Foundation
import MiniSupport

/// The results of a run in lm-evaluation-harness's layout: `results` (per task and group, keys
/// `metric,filter` and `metric_stderr,filter`), `groups`, `group_subtasks`, `configs`,
/// `versions`, `n-shot`, `higher_is_better`, `n-samples`, `config` (the model and run settings)
/// and, when samples were kept, `samples` (per task, the harness's per-document records).
public struct EvalReport: Sendable {
  public var groups: [GroupResult]
  /// The model directory and run settings written under `config`.
  public var settings: [String: String]

  public init(groups: [GroupResult], settings: [String: String]) {
    self.groups = groups
    self.settings = settings
  }

  private var tasks: [TaskResult] { groups.flatMap(\.subtasks) }

  private static func metricMembers(_ metrics: [MetricValue]) -> [String: Any] {
    var members: [String: Any] = [:]
    for metric in metrics {
      members[metric.key] = metric.value
      members["\(metric.name)_stderr,\(metric.filter)"] = metric.standardError ?? "N/A"
    }
    return members
  }

  /// The report as a JSON object.
  public var jsonObject: [String: Any] {
    var results: [String: Any] = [:]
    var groupEntries: [String: Any] = [:]
    var groupSubtasks: [String: Any] = [:]
    var configs: [String: Any] = [:]
    var versions: [String: Any] = [:]
    var shots: [String: Any] = [:]
    var higher: [String: Any] = [:]
    var counts: [String: Any] = [:]
    var samples: [String: Any] = [:]
    for group in groups {
      let isGroup = group.subtasks.count > 1 || group.subtasks.first?.task != group.name
      let categories = group.categories
      let categorized = Set(categories.flatMap { $0.subtasks.map(\.task) })
      if isGroup {
        var members = Self.metricMembers(group.reportedMetrics)
        members["alias"] = group.name
        results[group.name] = members
        groupEntries[group.name] = members
        groupSubtasks[group.name] =
          categories.map(\.name)
          + group.subtasks.map(\.task).filter { !categorized.contains($0) }
      }
      for category in categories {
        var members = Self.metricMembers(category.metrics)
        members["alias"] = " - " + category.name.dropFirst(group.name.count + 1)
        results[category.name] = members
        groupEntries[category.name] = members
        groupSubtasks[category.name] = category.subtasks.map(\.task)
      }
      for task in group.subtasks {
        var members = Self.metricMembers(task.metrics)
        let indent = categorized.contains(task.task) ? "  - " : " - "
        members["alias"] = isGroup ? indent + task.task : task.task
        members["name"] = task.task
        members["sample_len"] = task.documentCount
        results[task.task] = members
        configs[task.task] = Self.configObject(task)
        versions[task.task] = task.config.version
        shots[task.task] = task.numFewshot
        var better: [String: Any] = [:]
        for metric in task.metrics { better[metric.name] = metric.higherIsBetter }
        higher[task.task] = better
        counts[task.task] = ["original": task.documentCount, "effective": task.documentCount]
        if !task.samples.isEmpty { samples[task.task] = task.samples.map(Self.sampleObject) }
      }
    }
    var object: [String: Any] = [
      "results": results, "group_subtasks": groupSubtasks, "configs": configs,
      "versions": versions, "n-shot": shots, "higher_is_better": higher, "n-samples": counts,
      "config": settings,
      "total_evaluation_time_seconds": String(tasks.reduce(0) { $0 + $1.seconds }),
    ]
    if !groupEntries.isEmpty { object["groups"] = groupEntries }
    if !samples.isEmpty { object["samples"] = samples }
    return object
  }

  private static func configObject(_ task: TaskResult) -> [String: Any] {
    let config = task.config
    func template(_ value: TaskTemplate?) -> Any {
      switch value {
      case .template(let text)?: return text
      case .list(let list)?: return list
      case .index(let index)?: return index
      case nil: return NSNull()
      }
    }
    var object: [String: Any] = [
      "task": config.task, "output_type": config.outputType.rawValue,
      "doc_to_text": template(config.docToText), "doc_to_target": template(config.docToTarget),
      "doc_to_choice": template(config.docToChoice), "description": config.description,
      "target_delimiter": config.targetDelimiter, "fewshot_delimiter": config.fewshotDelimiter,
      "num_fewshot": task.numFewshot,
      "metric_list": config.effectiveMetrics.map { ["metric": $0.name] },
      "metadata": ["version": config.version],
    ]
    if let split = config.testSplit { object["test_split"] = split }
    if let split = config.fewshotSplit { object["fewshot_split"] = split }
    if let until = config.until { object["generation_kwargs"] = ["until": until] }
    return object
  }

  private static func sampleObject(_ sample: EvalSample) -> [String: Any] {
    var document: [String: Any] = [:]
    for (name, value) in sample.document.fields { document[name] = value.plainText }
    var arguments: [String: Any] = [:]
    for (index, list) in sample.arguments.enumerated() {
      var members: [String: Any] = [:]
      for (position, text) in list.enumerated() { members["arg_\(position)"] = text }
      arguments["gen_args_\(index)"] = members
    }
    let responses: [Any] = sample.responses.map { response in
      switch response {
      case .loglikelihood(let score): return [score.logLikelihood, score.isGreedy]
      case .rolling(let value): return value
      case .text(let text): return text
      }
    }
    var object: [String: Any] = [
      "doc_id": sample.documentID, "doc": document, "target": sample.target,
      "arguments": arguments, "resps": responses.map { [$0] }, "filtered_resps": responses,
    ]
    if !sample.filtered.isEmpty { object["filtered"] = sample.filtered }
    for (name, value) in sample.scores { object[name] = value }
    return object
  }

  /// The report as JSON text (sorted keys, indented).
  public func jsonData() throws -> Data {
    try JSONSerialization.data(
      withJSONObject: jsonObject, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
  }

  /// Writes the JSON under a temporary name and renames it over `path`.
  /// - Throws: write errors naming the file.
  public func write(to path: String) throws {
    try writeFileAtomically(Array(try jsonData()) + [0x0A], to: path)
  }

  /// The rows of the harness's results table: task, version, filter, shots, metric, direction,
  /// value and standard error, groups after their subtasks' rows. The name and version stand on
  /// the first row of a task only, as `lm_eval`'s `make_table` writes them.
  public var tableRows: [[String]] {
    var table: [[String]] = []
    func rows(name: String, version: String, shots: String, metrics: [MetricValue]) {
      for (index, metric) in metrics.enumerated() {
        table.append([
          index == 0 ? name : "", index == 0 ? version : "", metric.filter, shots, metric.name,
          metric.higherIsBetter ? "↑" : "↓", String(format: "%.4f", metric.value), "±",
          metric.standardError.map { String(format: "%.4f", $0) } ?? "N/A",
        ])
      }
    }
    for group in groups {
      for task in group.subtasks {
        rows(
          name: task.task, version: Self.versionText(task.config.version),
          shots: String(task.numFewshot), metrics: task.metrics)
      }
      if group.subtasks.count > 1 {
        for category in group.categories {
          rows(name: category.name, version: "", shots: "", metrics: category.metrics)
        }
        rows(name: group.name, version: "", shots: "", metrics: group.reportedMetrics)
      }
    }
    return table
  }

  /// The headings of ``tableRows``.
  public static let tableHeader = [
    "Tasks", "Version", "Filter", "n-shot", "Metric", "", "Value", "", "Stderr",
  ]

  /// The harness's results table in Markdown (``tableRows``).
  public var markdownTable: String {
    var lines = [
      "|" + Self.tableHeader.map { $0.isEmpty ? " " : $0 }.joined(separator: "|") + "|",
      "|-----|------:|------|-----:|------|---|-----:|---|-----:|",
    ]
    for row in tableRows { lines.append("|" + row.joined(separator: "|") + "|") }
    return lines.joined(separator: "\n")
  }

  /// The same table as ``markdownTable`` as a self-contained HTML page (no scripts, no outside
  /// files), every cell escaped, with the model and settings of ``settings`` above it.
  public var htmlPage: String {
    let numeric: Set<Int> = [1, 3, 6, 8]
    let table = HTMLTable(
      header: Self.tableHeader,
      rows: tableRows.map { row in
        row.enumerated().map { HTMLTable.Cell($1, numeric: numeric.contains($0)) }
      })
    let settingsTable = HTMLTable(
      header: ["setting", "value"],
      rows: settings.keys.sorted().map { [HTMLTable.Cell($0), HTMLTable.Cell(settings[$0]!)] })
    let title = "Evaluation results: " + groups.map(\.name).joined(separator: ", ")
    return """
      <!DOCTYPE html>
      <html lang="en"><head><meta charset="utf-8"><title>\(htmlEscaped(title))</title>
      <style>
      body{font-family:sans-serif;max-width:960px;margin:24px auto;color:#222}
      table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ddd;padding:3px 8px;
      text-align:left;font-size:13px}th{background:#f4f4f4}
      </style></head><body>
      <h1>\(htmlEscaped(title))</h1>

      """ + table.html() + "<h2>Settings</h2>\n" + settingsTable.html() + "</body></html>\n"
  }

  /// Writes the results table to `path` under a temporary name and renames it: HTML
  /// (``htmlPage``) when the name ends in `.html` or `.htm`, else Markdown (``markdownTable``).
  /// - Throws: write errors naming the file.
  public func writeTable(to path: String) throws {
    let lowered = path.lowercased()
    let text =
      lowered.hasSuffix(".html") || lowered.hasSuffix(".htm") ? htmlPage : markdownTable + "\n"
    try writeFileAtomically(Array(text.utf8), to: path)
  }

  static func versionText(_ version: Double) -> String {
    version == version.rounded() ? String(Int(version)) : String(version)
  }
}
