import Foundation

/// The demo's settings (the flags of `minillm demo`).
package struct DemoSettings: Sendable {
  package var minutes: Double
  package var out: String
  package var name: String
  package var author: String
  package var fresh: Bool
  package var seed: UInt64
  package var vocabularySize: Int

  /// The settings of a run.
  package init(
    minutes: Double, out: String, name: String, author: String, fresh: Bool, seed: UInt64,
    vocabularySize: Int
  ) {
    self.minutes = minutes
    self.out = out
    self.name = name
    self.author = author
    self.fresh = fresh
    self.seed = seed
    self.vocabularySize = vocabularySize
  }
}

/// A demo that cannot go on: one line, printed as `Error: …`.
package struct DemoError: Error, CustomStringConvertible {
  package let description: String
  init(_ description: String) { self.description = description }
}

/// Runs the whole demo (`minillm demo`) and prints what it made.
/// - Parameter supports: whether this build has a subcommand (e.g. `["data", "dpo"]`) and,
///   when the second argument is given, whether its help mentions it (e.g. a flag).
package func runDemo(
  _ settings: DemoSettings, supports: @escaping ([String], String?) -> Bool
) throws {
  let layout = DemoLayout(out: settings.out)
  try prepareFolder(layout, settings: settings)
  var pipeline = try DemoPipeline(settings: settings, supports: supports)
  let summary = try pipeline.run()
  let stageMinutes = summary.stages.map(\.seconds).reduce(0, +) / 60
  let reused = summary.stages.filter(\.reused).isEmpty ? "" : " (some reused from an earlier run)"
  say(
    "\n== Done: this run took \(String(format: "%.1f", summary.elapsed / 60)) minutes; the stages "
      + "\(String(format: "%.1f", stageMinutes)) minutes in all\(reused)")
  for stage in summary.stages {
    let note = stage.reused ? "  (reused)" : ""
    say(
      "  \(stage.name.padding(toLength: 16, withPad: " ", startingAt: 0)) \(String(format: "%7.1f", stage.seconds)) s\(note)"
    )
  }
  for row in DemoReport(summary: summary).trainingFigures() {
    let figures = zip(DemoReport.trainingColumns, row.cells).filter { !$1.isEmpty }
      .map { $0.isEmpty ? $1 : "\($0) \($1)" }
    say("  \(row.label): " + figures.joined(separator: ", "))
  }
  say("report:     \(layout.report)")
  if FileManager.default.fileExists(atPath: layout.finalModel) {
    say("chat model: \(layout.finalModel)   (minillm chat --model \(layout.finalModel))")
    say("GGUF:       \(layout.gguf)")
  }
}

/// Refuses a non-empty OUT that no demo made; with --fresh, removes what a demo made.
func prepareFolder(_ layout: DemoLayout, settings: DemoSettings) throws {
  let manager = FileManager.default
  if let entries = try? manager.contentsOfDirectory(atPath: settings.out), !entries.isEmpty,
    !manager.fileExists(atPath: layout.stages)
  {
    throw DemoError(
      "--out: \(settings.out) is not empty and holds no demo run (no stages/ folder); choose another --out"
    )
  }
  if settings.fresh {
    for path in layout.owned where manager.fileExists(atPath: path) {
      try manager.removeItem(atPath: path)
    }
  }
  try manager.createDirectory(atPath: settings.out, withIntermediateDirectories: true)
}

extension DemoPipeline {
  /// Copies the last model to OUT/model, exports its GGUF, writes each run's report and the
  /// demo's report.
  func finish(_ summary: DemoSummary) throws -> DemoSummary {
    guard let last = summary.trainingRuns.last else { return summary }
    try runner.stage(
      "14-export", "Export: OUT/model (the \(last.label) model) and its GGUF",
      produces: [layout.finalModel, layout.gguf]
    ) {
      let manager = FileManager.default
      if manager.fileExists(atPath: layout.finalModel) {
        try manager.removeItem(atPath: layout.finalModel)
      }
      try manager.copyItem(atPath: layout.model(last.run), toPath: layout.finalModel)
      say("copied \(layout.model(last.run)) to \(layout.finalModel)")
      return [
        ["export", "gguf", "--model", layout.finalModel, "--out", layout.gguf, "--overwrite"]
      ]
    }
    try runner.stage(
      "15-report", "Reports: one per training run, then OUT/report.html",
      produces: summary.trainingRuns.map {
        (layout.run($0.run) as NSString).appendingPathComponent("report.html")
      }
    ) {
      summary.trainingRuns.map {
        ["report", "--run", layout.run($0.run), "--max-new-tokens", "32"]
      }
    }
    var final = summary
    final.stages = runner.records
    final.elapsed = runner.elapsed
    try Data(DemoReport(summary: final).html().utf8).write(
      to: URL(fileURLWithPath: layout.report), options: .atomic)
    say("wrote \(layout.report)")
    return final
  }
}
