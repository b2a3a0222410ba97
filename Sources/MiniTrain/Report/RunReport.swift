import Foundation
import MiniSupport

/// `report.html` of a run: SVG plots of the training and evaluation loss, the learning rate and
/// the gradient norm from `metrics.jsonl`, the run's `config.json` as a table, the final figures,
/// the benchmark scores of `eval/` and optional sample generations. One self-contained page with
/// no JavaScript.
public struct RunReport {
  /// One logged step.
  public struct Step: Sendable, Equatable {
    /// Step number.
    public var step: Int
    /// Training loss (nil when not finite).
    public var loss: Double?
    /// Learning rate.
    public var learningRate: Double?
    /// Gradient norm before clipping.
    public var gradientNorm: Double?
    /// Throughput.
    public var tokensPerSecond: Double?
    /// Tokens in the step.
    public var tokens: Int?
    /// Seconds of training up to this step.
    public var elapsed: Double?
    /// Whether the update was skipped.
    public var skipped: Bool
    /// The step's figures among ``RunReport/plottedFigures`` (reinforcement-learning runs).
    public var figures: [String: Double] = [:]
  }

  /// Step figures plotted when a run logs them: those of `grpo` and `ppo`.
  public static let plottedFigures = [
    "reward_mean", "kl", "entropy", "clip_fraction", "response_length", "advantage_std",
    "value_loss",
  ]

  /// One evaluation.
  public struct Evaluation: Sendable, Equatable {
    /// Step number.
    public var step: Int
    /// Mean held-out loss.
    public var loss: Double
    /// Tokens evaluated.
    public var tokens: Int?
  }

  /// Page title.
  public var title: String
  /// Steps in step order (for a step logged twice, e.g. after a rollback, the last line).
  public var steps: [Step]
  /// Evaluations in step order.
  public var evaluations: [Evaluation]
  /// Event lines (`rollback`, …) as `(step, description)`.
  public var events: [(step: Int, text: String)]
  /// The run's configuration flattened to `key → value` rows.
  public var configuration: [(key: String, value: String)]
  /// Sample generations `(prompt, continuation)`.
  public var samples: [(prompt: String, completion: String)] = []
  /// The results files of `eval/` (``RunDirectory/evaluationResultsFiles``) as read: the scores,
  /// or why the file could not be read.
  public var benchmarks: [(file: String, results: Result<BenchmarkResults, CheckpointError>)] =
    []

  /// Reads `metrics.jsonl` and `config.json` of `run`.
  /// - Throws: ``CheckpointError`` when the run has no metrics.
  public init(run: RunDirectory) throws {
    guard FileManager.default.fileExists(atPath: run.metricsPath) else {
      throw CheckpointError(path: run.metricsPath, "missing; is \(run.path) a training run?")
    }
    var configuration: [(String, String)] = []
    if let data = FileManager.default.contents(atPath: run.configurationPath),
      let object = try? JSONSerialization.jsonObject(with: data)
    {
      Self.flatten(object, prefix: "", into: &configuration)
    }
    self.init(
      title: "Training run " + URL(fileURLWithPath: run.path).lastPathComponent,
      records: MetricsLog.read(path: run.metricsPath), configuration: configuration)
    benchmarks = run.evaluationResultsFiles.map { file in
      (
        file,
        Result { () throws(CheckpointError) in try BenchmarkResults(contentsOf: file) }
      )
    }
  }

  /// A report from metrics records (as ``MetricsLog/read(path:)`` returns them).
  public init(
    title: String, records: [[String: Any]], configuration: [(key: String, value: String)]
  ) {
    self.title = title
    self.configuration = configuration
    var steps: [Int: Step] = [:]
    var evaluations: [Int: Evaluation] = [:]
    var events: [(Int, String)] = []
    func number(_ value: Any?) -> Double? {
      guard let value = value as? NSNumber else { return nil }
      let double = value.doubleValue
      return double.isFinite ? double : nil
    }
    for record in records {
      guard let step = record["step"] as? Int else { continue }
      if let event = record["event"] as? String {
        let details = record.keys.filter { $0 != "step" && $0 != "event" }.sorted()
          .map { "\($0) \(record[$0]!)" }.joined(separator: ", ")
        events.append((step, details.isEmpty ? event : "\(event) (\(details))"))
      } else if let loss = number(record["eval_loss"]) {
        evaluations[step] = Evaluation(
          step: step, loss: loss, tokens: record["eval_tokens"] as? Int)
      } else if record.keys.contains("loss") {
        steps[step] = Step(
          step: step, loss: number(record["loss"]), learningRate: number(record["lr"]),
          gradientNorm: number(record["grad_norm"]),
          tokensPerSecond: number(record["tokens_per_s"]),
          tokens: record["tokens"] as? Int, elapsed: number(record["elapsed"]),
          skipped: (record["skipped"] as? Bool) ?? false)
        for name in Self.plottedFigures {
          if let value = number(record[name]) { steps[step]?.figures[name] = value }
        }
      }
    }
    self.steps = steps.values.sorted { $0.step < $1.step }
    self.evaluations = evaluations.values.sorted { $0.step < $1.step }
    self.events = events
  }

  static func flatten(_ value: Any, prefix: String, into rows: inout [(String, String)]) {
    if let object = value as? [String: Any] {
      for key in object.keys.sorted() {
        flatten(object[key]!, prefix: prefix.isEmpty ? key : prefix + "." + key, into: &rows)
      }
    } else if let array = value as? [Any], array.allSatisfy({ !($0 is [String: Any]) }) {
      rows.append((prefix, "[" + array.map { "\($0)" }.joined(separator: ", ") + "]"))
    } else if value is NSNull {
      rows.append((prefix, "null"))
    } else {
      rows.append((prefix, "\(value)"))
    }
  }

  /// Exponential moving average of the training loss (`weight` on the past), bias-corrected.
  public func smoothedLoss(weight: Double = 0.9) -> [(x: Double, y: Double)] {
    var average = 0.0
    var count = 0
    var result: [(x: Double, y: Double)] = []
    for step in steps {
      guard let loss = step.loss, !step.skipped else { continue }
      count += 1
      average = weight * average + (1 - weight) * loss
      result.append((Double(step.step), average / (1 - pow(weight, Double(count)))))
    }
    return result
  }

  /// The headline figures as `(label, value)` rows.
  public var finalFigures: [(String, String)] {
    var rows: [(String, String)] = []
    guard let last = steps.last else { return [("steps", "0")] }
    rows.append(("steps", "\(last.step)"))
    let finite = steps.compactMap(\.loss)
    let tail = finite.suffix(max(1, finite.count / 10))
    if !tail.isEmpty {
      rows.append(
        (
          "training loss (mean of the last \(tail.count) steps)",
          String(format: "%.4f", tail.reduce(0, +) / Double(tail.count))
        ))
    }
    if let evaluation = evaluations.last {
      rows.append(
        ("held-out loss (step \(evaluation.step))", String(format: "%.4f", evaluation.loss)))
      rows.append(("held-out perplexity", String(format: "%.2f", exp(evaluation.loss))))
    }
    let tokens = steps.compactMap(\.tokens).reduce(0, +)
    if tokens > 0 { rows.append(("tokens trained on", "\(tokens)")) }
    if let elapsed = last.elapsed {
      rows.append(("training time", String(format: "%.1f s", elapsed)))
    }
    let speeds = steps.compactMap(\.tokensPerSecond).sorted()
    if !speeds.isEmpty {
      rows.append(("tokens/s (median step)", String(format: "%.0f", speeds[speeds.count / 2])))
    }
    rows.append(("skipped steps", "\(steps.filter(\.skipped).count)"))
    let rollbacks = events.filter { $0.text.hasPrefix("rollback") }.count
    if rollbacks > 0 { rows.append(("rollbacks", "\(rollbacks)")) }
    return rows
  }

  /// The page.
  public func html() -> String {
    let escape = htmlEscaped
    var lossSeries = [
      SVGPlot.Series(
        name: "train loss", color: "#9ecae1",
        points: steps.compactMap { step in step.loss.map { (Double(step.step), $0) } }, width: 1),
      SVGPlot.Series(name: "train loss (EMA)", color: "#1f77b4", points: smoothedLoss(), width: 2),
    ]
    if !evaluations.isEmpty {
      lossSeries.append(
        SVGPlot.Series(
          name: "held-out loss", color: "#ff7f0e",
          points: evaluations.map { (Double($0.step), $0.loss) }, markers: true, width: 2))
    }
    var plots = [
      SVGPlot(title: "Loss", xLabel: "step", yLabel: "loss (nats/token)", series: lossSeries),
      SVGPlot(
        title: "Learning rate", xLabel: "step", yLabel: "learning rate",
        series: [
          SVGPlot.Series(
            name: "lr", color: "#2ca02c",
            points: steps.compactMap { step in step.learningRate.map { (Double(step.step), $0) } })
        ]),
      SVGPlot(
        title: "Gradient norm (before clipping)", xLabel: "step", yLabel: "L2 norm",
        series: [
          SVGPlot.Series(
            name: "grad norm", color: "#9467bd",
            points: steps.compactMap { step in step.gradientNorm.map { (Double(step.step), $0) } })
        ]),
    ]
    for name in Self.plottedFigures {
      let points = steps.compactMap { step in step.figures[name].map { (Double(step.step), $0) } }
      guard !points.isEmpty else { continue }
      plots.append(
        SVGPlot(
          title: name, xLabel: "step", yLabel: name,
          series: [SVGPlot.Series(name: name, color: "#d62728", points: points)]))
    }
    var page = """
      <!DOCTYPE html>
      <html lang="en"><head><meta charset="utf-8"><title>\(escape(title))</title>
      <style>
      body{font-family:sans-serif;max-width:820px;margin:24px auto;color:#222}
      table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ddd;padding:3px 8px;
      text-align:left;font-size:13px}th{background:#f4f4f4}figure{margin:0 0 16px}
      pre{white-space:pre-wrap;background:#f7f7f7;padding:8px;border:1px solid #e4e4e4}
      </style></head><body>
      <h1>\(escape(title))</h1>
      <h2>Final figures</h2>
      <table>

      """
    for (label, value) in finalFigures {
      page += "<tr><th>\(escape(label))</th><td>\(escape(value))</td></tr>\n"
    }
    page += "</table>\n"
    if !benchmarks.isEmpty { page += "<h2>Benchmarks</h2>\n" + benchmarksHTML() }
    page += "<h2>Curves</h2>\n"
    for plot in plots { page += "<figure>\n" + plot.svg() + "\n</figure>\n" }
    if !evaluations.isEmpty {
      page += "<h2>Evaluations</h2>\n<table><tr><th>step</th><th>loss</th><th>perplexity</th>"
      page += "<th>tokens</th></tr>\n"
      for evaluation in evaluations {
        page += "<tr><td>\(evaluation.step)</td><td>\(String(format: "%.4f", evaluation.loss))</td>"
        page += "<td>\(String(format: "%.2f", exp(evaluation.loss)))</td>"
        page += "<td>\(evaluation.tokens.map(String.init) ?? "")</td></tr>\n"
      }
      page += "</table>\n"
    }
    if !events.isEmpty {
      page += "<h2>Events</h2>\n<ul>\n"
      for event in events { page += "<li>step \(event.step): \(escape(event.text))</li>\n" }
      page += "</ul>\n"
    }
    if !samples.isEmpty {
      page += "<h2>Samples</h2>\n"
      for sample in samples {
        page += "<p><b>\(escape(sample.prompt))</b></p><pre>\(escape(sample.completion))</pre>\n"
      }
    }
    page += "<h2>Configuration</h2>\n<table>\n"
    for row in configuration {
      page += "<tr><th>\(escape(row.key))</th><td>\(escape(row.value))</td></tr>\n"
    }
    page += "</table>\n</body></html>\n"
    return page
  }

  /// One table of every readable results file's scores (under the file's name), and a line
  /// for each file that could not be read.
  func benchmarksHTML() -> String {
    var html = ""
    for (file, results) in benchmarks {
      let name = htmlEscaped(URL(fileURLWithPath: file).lastPathComponent)
      switch results {
      case .success(let results):
        html += "<p><code>eval/\(name)</code></p>\n" + results.htmlTable()
      case .failure(let error):
        html += "<p><code>eval/\(name)</code>: unreadable (\(htmlEscaped(error.message)))</p>\n"
      }
    }
    return html
  }

  /// Writes the page to `path` atomically.
  public func write(to path: String) throws {
    try FileSystem.write(Array(html().utf8), to: path)
  }
}
