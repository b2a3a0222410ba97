import Foundation
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

@Suite struct ReportTests {
  func records() -> [[String: Any]] {
    var records: [[String: Any]] = []
    for step in 1...40 {
      records.append([
        "step": step, "loss": 6 - Double(step) * 0.05, "lr": 1e-3 * Double(min(step, 10)) / 10,
        "grad_norm": 1.5, "tokens": 512, "tokens_per_s": 1000.0 + Double(step),
        "elapsed": Double(step) * 0.5, "skipped": step == 7, "epoch": 0,
      ])
      if step % 10 == 0 {
        records.append(["step": step, "eval_loss": 6.2 - Double(step) * 0.04, "eval_tokens": 256])
      }
    }
    // A step logged again after a rollback: the later line wins.
    records.append(["step": 20, "event": "rollback", "from_step": 23, "to_step": 20])
    records.append([
      "step": 21, "loss": 1.25, "lr": 1e-3, "grad_norm": 1.0, "tokens": 512, "skipped": false,
    ])
    return records
  }

  @Test func readsMetricsAndDrawsSelfContainedSVG() throws {
    var report = RunReport(
      title: "run <a&b>", records: records(),
      configuration: [("model.hidden_size", "32"), ("schedule.kind", "cosine")])
    report.samples = [("床前明月光", "疑是地上霜")]
    #expect(report.steps.count == 40)
    #expect(report.steps[20].loss == 1.25)
    #expect(report.evaluations.map(\.step) == [10, 20, 30, 40])
    #expect(report.events.count == 1)
    let figures = Dictionary(report.finalFigures, uniquingKeysWith: { first, _ in first })
    #expect(figures["steps"] == "40")
    #expect(figures["skipped steps"] == "1")
    #expect(figures["held-out loss (step 40)"] == String(format: "%.4f", 6.2 - 1.6))
    #expect(figures["rollbacks"] == "1")
    let html = report.html()
    #expect(html.components(separatedBy: "<svg").count - 1 == 3)
    #expect(html.components(separatedBy: "<polyline").count - 1 == 5)
    #expect(!html.lowercased().contains("<script"))
    #expect(html.contains("run &lt;a&amp;b&gt;"))
    #expect(html.contains("model.hidden_size"))
    #expect(html.contains("疑是地上霜"))
    // The smoothed curve leaves out the skipped step and starts at the first loss.
    let smoothed = report.smoothedLoss()
    #expect(smoothed.count == 39)
    #expect(abs(smoothed[0].y - 5.95) < 1e-12)
  }

  @Test(arguments: [(0.37, 4.2), (0.0, 1e-3), (2.5e-5, 6e-4), (120.0, 9000.0), (-3.0, 2.0)])
  func ticksAreRoundNumbersInsideTheRange(low: Double, high: Double) {
    let ticks = SVGPlot.ticks(low, high)
    #expect((3...8).contains(ticks.count), "\(ticks)")
    #expect(ticks.first! >= low - 1e-12 && ticks.last! <= high + 1e-12)
    let step = ticks[1] - ticks[0]
    let mantissa = step / pow(10, floor(log10(step)))
    #expect([1, 2, 2.5, 5].contains { abs(mantissa - $0) < 1e-9 }, "step \(step)")
    #expect(zip(ticks, ticks.dropFirst()).allSatisfy { abs($1 - $0 - step) < step * 1e-6 })
  }

  @Test func writesReportOfARunDirectory() throws {
    let run = RunDirectory(path: try temporaryDirectory())
    try run.prepare(.fresh)
    let log = try MetricsLog(path: run.metricsPath)
    for step in 1...3 {
      try log.append([("step", .int(step)), ("loss", .float(Float(4 - step))), ("lr", .float(0.1))])
    }
    try run.writeConfiguration(Array("{\"seed\": 5, \"model\": {\"vocab_size\": 64}}".utf8))
    let report = try RunReport(run: run)
    #expect(report.configuration.map(\.key) == ["model.vocab_size", "seed"])
    try report.write(to: run.reportPath)
    #expect(try String(contentsOfFile: run.reportPath, encoding: .utf8).contains("<svg"))
    #expect(throws: CheckpointError.self) {
      try RunReport(run: RunDirectory(path: try temporaryDirectory()))
    }
  }
}

/// Benchmark results kept in `RUN/eval` by `minillm eval --task` and shown in the run's report.
@Suite struct BenchmarkReportTests {
  /// A results JSON of a group `tiny` with subtasks `b_task` and `a<b`, as the harness lays it out.
  static let groupResults = """
    {"results": {
      "tiny": {"alias": "tiny", "acc,none": 0.5, "acc_stderr,none": 0.25},
      "b_task": {"alias": " - b_task", "acc,none": 0.75, "acc_stderr,none": 0.125,
        "acc_norm,none": 1.0, "acc_norm_stderr,none": 0.0, "name": "b_task", "sample_len": 8},
      "a<b": {"alias": " - a<b", "acc,none": 0.25, "acc_stderr,none": "N/A", "name": "a<b",
        "sample_len": 4}},
     "group_subtasks": {"tiny": ["b_task", "a<b"]},
     "n-shot": {"b_task": 5, "a<b": 0},
     "n-samples": {"b_task": {"original": 10, "effective": 8}, "a<b": {"original": 4, "effective": 4}}}
    """

  @Test func readsEveryMetricWithSubtasksBeforeTheirGroup() throws {
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(Self.groupResults.utf8)) as? [String: Any])
    let results = try BenchmarkResults(jsonObject: object, origin: "tiny.json")
    #expect(
      results.scores == [
        .init(task: "a<b", metric: "acc", value: 0.25, shots: 0, samples: 4),
        .init(
          task: "b_task", metric: "acc", value: 0.75, standardError: 0.125, shots: 5, samples: 8),
        .init(task: "b_task", metric: "acc_norm", value: 1, standardError: 0, shots: 5, samples: 8),
        .init(task: "tiny", metric: "acc", value: 0.5, standardError: 0.25),
      ])
    #expect(results.metrics(of: "b_task")["acc_norm"]?.value == 1)
    let html = results.htmlTable()
    #expect(html.contains("<td>a&lt;b</td>") && !html.contains("a<b"))
    #expect(html.contains(">0.7500 ± 0.1250</td>") && html.contains(">0.2500</td>"))
    #expect(BenchmarkResults.scoreText(0.3172, 0.0604, decimals: 3) == "0.317 ± 0.060")
    #expect(throws: CheckpointError.self) {
      try BenchmarkResults(jsonObject: ["results": ["t": ["acc,none": "high"]]], origin: "x")
    }
  }

  @Test func runReportShowsScoresAndNamesUnreadableFiles() throws {
    let run = RunDirectory(path: try temporaryDirectory())
    try run.prepare(.fresh)
    try FileManager.default.createDirectory(
      atPath: run.modelPath, withIntermediateDirectories: true)
    let log = try MetricsLog(path: run.metricsPath)
    try log.append([("step", .int(1)), ("loss", .float(3)), ("lr", .float(0.1))])
    #expect(RunDirectory.owning(model: run.modelPath + "/")?.path == run.path)
    #expect(RunDirectory.owning(model: run.path) == nil)
    #expect(RunDirectory.owning(adapter: run.modelPath) == nil)
    #expect(run.evaluationResultsPath(for: "a<b/c") == run.path + "/eval/a_b_c.json")
    #expect(run.evaluationResultsPath(for: ".hidden") == run.path + "/eval/_.hidden.json")

    try FileManager.default.createDirectory(
      atPath: run.evaluationPath, withIntermediateDirectories: true)
    try Self.groupResults.write(
      toFile: run.evaluationResultsPath(for: "tiny"), atomically: true, encoding: .utf8)
    try "{\"results\": [1, 2]}".write(
      toFile: run.evaluationPath + "/list.json", atomically: true, encoding: .utf8)
    try "{\"results\"".write(
      toFile: run.evaluationPath + "/cut<short>.json", atomically: true, encoding: .utf8)
    try "not a results file".write(
      toFile: run.evaluationPath + "/notes.txt", atomically: true, encoding: .utf8)

    let report = try RunReport(run: run)
    #expect(
      report.benchmarks.map { URL(fileURLWithPath: $0.file).lastPathComponent } == [
        "cut<short>.json", "list.json", "tiny.json",
      ])
    let html = report.html()
    #expect(html.contains("<h2>Benchmarks</h2>"))
    #expect(html.contains("<code>eval/cut&lt;short&gt;.json</code>: unreadable (not JSON)"))
    #expect(html.contains("<code>eval/list.json</code>: unreadable (no &quot;results&quot; object"))
    #expect(html.contains("<td>a&lt;b</td><td>acc</td><td>none</td>"))
    #expect(html.contains(">0.5000 ± 0.2500</td>"))
    #expect(!html.contains("a<b") && !html.contains("notes.txt"))

    // A run without eval/ has no Benchmarks section.
    try FileManager.default.removeItem(atPath: run.evaluationPath)
    #expect(!(try RunReport(run: run)).html().contains("Benchmarks"))
  }
}

@Suite struct PlotLabelTests {
  @Test func axisLabelsShareOneStyle() {
    #expect(SVGPlot.labels([0, 2e-4, 4e-4, 6e-4]) == ["0", "2.0e-04", "4.0e-04", "6.0e-04"])
    #expect(SVGPlot.labels([0.5, 1, 1.5]) == ["0.5", "1.0", "1.5"])
    #expect(SVGPlot.labels([0.25, 0.5, 0.75]) == ["0.25", "0.50", "0.75"])
    #expect(SVGPlot.labels([50, 100, 150]) == ["50", "100", "150"])
  }
}
