import ArgumentParser
import Foundation
import MiniTrain

struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Run the whole pipeline on the Chinese texts of fortunes-zh and manpages-zh.",
    subcommands: [DemoRun.self, DemoCorpus.self, DemoSFTData.self],
    defaultSubcommand: DemoRun.self
  )
}

/// The demo's settings (the flags of `minillm demo`).
struct DemoSettings {
  var minutes: Double
  var out: String
  var name: String
  var author: String
  var fresh: Bool
  var seed: UInt64
  var vocabularySize: Int
}

struct DemoRun: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Corpus → tokenizer → pretraining → SFT → DPO → comparison → report → export.",
    discussion: """
      Each stage is a minillm command run as a child process of this executable, printed \
      before it runs, so it can be repeated by hand: demo corpus, tokenizer train, data \
      pretrain, demo sft-data, bench train (a throughput probe that sizes the training \
      stages to the budget), pretrain (nano preset), data sft, sft, data dpo \
      --generate-rejected, dpo, eval and generate for the before/after table, report, export \
      gguf. OUT/stages/ keeps one record per finished stage: running the demo again reuses \
      them (an interrupted training stage resumes from its last checkpoint) unless --fresh \
      is given. OUT/report.html shows the curves of every stage, the table, the timings and \
      the configurations; OUT/model is the final chat model and OUT/minillm-demo.gguf its \
      GGUF. Stages whose command is not in this build (sft, dpo) are skipped.
      """)

  @Option(help: "Time budget in minutes; the training stages are sized to fit it.")
  var minutes: Double = 15

  @Option(help: "Output folder.")
  var out: String = "demo-run"

  @Option(help: "The assistant's name in the self-cognition set.")
  var name: String = "MiniLLM"

  @Option(help: "The assistant's author in the self-cognition set.")
  var author: String = "MiniLLM 项目"

  @Option(help: "Seed of the data, the initial weights and the data order.")
  var seed: UInt64 = 0

  @Option(help: "Tokenizer vocabulary size.")
  var vocabSize = 6400

  @Flag(help: "Delete what an earlier demo wrote in OUT and run every stage again.")
  var fresh = false

  func validate() throws {
    guard minutes >= 2 else { throw ValidationError("--minutes: must be ≥ 2, got \(minutes)") }
    guard vocabSize >= 512 else {
      throw ValidationError("--vocab-size: must be ≥ 512, got \(vocabSize)")
    }
    guard !name.isEmpty, !author.isEmpty else {
      throw ValidationError("--name and --author must not be empty")
    }
  }

  func run() throws {
    let settings = DemoSettings(
      minutes: minutes, out: out, name: name, author: author, fresh: fresh, seed: seed,
      vocabularySize: vocabSize)
    let layout = DemoLayout(out: out)
    try prepareFolder(layout)
    var pipeline = try DemoPipeline(settings: settings)
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
  func prepareFolder(_ layout: DemoLayout) throws {
    let manager = FileManager.default
    if let entries = try? manager.contentsOfDirectory(atPath: out), !entries.isEmpty,
      !manager.fileExists(atPath: layout.stages)
    {
      throw CommandLineError(
        "--out: \(out) is not empty and holds no demo run (no stages/ folder); choose another --out"
      )
    }
    if fresh {
      for path in layout.owned where manager.fileExists(atPath: path) {
        try manager.removeItem(atPath: path)
      }
    }
    try manager.createDirectory(atPath: out, withIntermediateDirectories: true)
  }
}

extension DemoPipeline {
  /// Copies the last model to OUT/model, exports its GGUF, writes each run's report and the
  /// demo's report.
  func finish(_ summary: DemoSummary) throws -> DemoSummary {
    guard let last = summary.trainingRuns.last else { return summary }
    try runner.stage(
      "13-export", "Export: OUT/model (the \(last.label) model) and its GGUF",
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
      "14-report", "Reports: one per training run, then OUT/report.html",
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
