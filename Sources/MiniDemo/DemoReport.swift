import Foundation
import MiniSupport
import MiniTrain

/// What the demo did, for the final printout and `report.html`.
struct DemoSummary {
  var settings: DemoSettings
  var layout: DemoLayout
  var plan: DemoPlan?
  var stages: [DemoStageRecord]
  var models: [(label: String, run: String)]
  var comparison: DemoComparison
  var exam: DemoExamScores
  var elapsed: Double

  /// The training runs that exist (pretrain, sft, dpo), with their label.
  var trainingRuns: [(label: String, run: String)] { models.filter { $0.run != "init" } }
}

/// `OUT/report.html`: one self-contained page (inline SVG, no JavaScript) with every stage's
/// curves, the before/after table, timings, tokens/s and the configurations.
struct DemoReport {
  let summary: DemoSummary

  static let colors = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"]

  var stageSeconds: Double { summary.stages.map(\.seconds).reduce(0, +) }

  var reusedNote: String {
    let reused = summary.stages.filter(\.reused).map(\.seconds).reduce(0, +)
    guard reused > 0 else { return "" }
    return String(format: "; %.1f of them in an earlier run whose stages were reused", reused / 60)
  }

  func html() -> String {
    let e = htmlEscaped
    let layout = summary.layout
    var page = """
      <!DOCTYPE html>
      <html lang="zh"><head><meta charset="utf-8"><title>MiniLLM demo</title>
      <style>
      body{font-family:sans-serif;max-width:900px;margin:24px auto;color:#222}
      table{border-collapse:collapse;margin:8px 0 20px}td,th{border:1px solid #ddd;padding:3px 8px;
      text-align:left;font-size:13px;vertical-align:top}th{background:#f4f4f4}figure{margin:0 0 16px}
      pre{white-space:pre-wrap;background:#f7f7f7;padding:8px;border:1px solid #e4e4e4;font-size:12px}
      code{font-size:12px}
      </style></head><body>
      <h1>MiniLLM demo</h1>
      <p>From the Chinese texts of <code>fortunes-zh</code> and <code>manpages-zh</code> to a chat
      model named <b>\(e(summary.settings.name))</b> (author <b>\(e(summary.settings.author))</b>).
      The stages took \(String(format: "%.1f", stageSeconds / 60)) minutes in all (budget
      \(summary.settings.minutes) minutes\(reusedNote)). Every stage is a <code>minillm</code>
      command; the exact command lines are listed under Stages.</p>

      """
    page += "<h2>Before and after</h2>\n" + comparisonTable()
    page += "<h2>Exam</h2>\n" + examTable()
    page += "<h2>Held-out loss</h2>\n" + lossTable()
    page += "<h2>Curves</h2>\n"
    for plot in plots() { page += "<figure>\n" + plot.svg() + "\n</figure>\n" }
    page += "<h2>Training figures</h2>\n" + trainingTable()
    page += "<h2>Stages</h2>\n" + stageTable()
    page += "<h2>Files</h2>\n<table>\n"
    for (label, path) in [
      ("chat model directory (transformers, minillm chat)", layout.finalModel),
      ("GGUF (llama.cpp)", layout.gguf), ("corpus", layout.corpus), ("tokenizer", layout.tokenizer),
      ("SFT data", layout.sftData),
    ] + summary.trainingRuns.map({ ("\($0.label) run (report.html inside)", layout.run($0.run)) }) {
      page += "<tr><th>\(e(label))</th><td><code>\(e(path))</code></td></tr>\n"
    }
    page += "</table>\n<h2>Configurations</h2>\n"
    for run in summary.trainingRuns {
      let path = (layout.run(run.run) as NSString).appendingPathComponent("config.json")
      guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
      page +=
        "<details><summary>\(e(run.label)): <code>\(e(path))</code></summary><pre>\(e(text))</pre></details>\n"
    }
    if let plan = summary.plan {
      page +=
        "<p>Plan: probe \(Int(plan.tokensPerSecond)) tok/s; pretraining \(plan.pretrainSteps) steps "
      page += "of \(plan.pretrainBatch) × \(plan.sequenceLength) tokens.</p>\n"
    }
    page += "</body></html>\n"
    return page
  }

  func comparisonTable() -> String {
    let e = htmlEscaped
    let models = summary.trainingRuns
    var html = "<table><tr><th>prompt</th><th>reference</th>"
    for model in models { html += "<th>\(e(model.label))</th>" }
    html += "</tr>\n"
    for (index, prompt) in summary.comparison.prompts.enumerated() {
      let unseen = prompt.trained ? "" : "<br><i>(held out: not in the SFT data)</i>"
      html += "<tr><td>\(e(prompt.prompt))\(unseen)</td><td>\(e(prompt.reference))</td>"
      for model in models {
        let answers = summary.comparison.answers[model.label] ?? []
        let answer = index < answers.count ? answers[index] : ""
        html += "<td>\(e(answer).replacingOccurrences(of: "\n", with: "<br>"))</td>"
      }
      html += "</tr>\n"
    }
    return html
      + "</table>\n<p>Greedy decoding. The pretrained model sees the same ChatML prompt as text; the others answer through their chat template.</p>\n"
  }

  /// Every model's exam scores beside chance level.
  func examTable() -> String {
    let exam = summary.exam
    guard !exam.scores.isEmpty else { return "<p>The exam did not run.</p>\n" }
    let e = htmlEscaped
    let kinds = exam.kinds.map { "\($0.count) \($0.kind)" }.joined(separator: ", ")
    var html = "<p><code>\(e(DemoExam.taskName))</code>: \(exam.questions) questions (\(e(kinds)))"
    html += " held out from the SFT data, \(DemoExam.choiceCount) choices each, zero-shot, "
    html += "scored by log-likelihood as lm-evaluation-harness scores them "
    html += "(<code>\(e(summary.layout.examTask))</code>; results in "
    html += "<code>\(e(summary.layout.exam))</code>).</p>\n"
    var table = HTMLTable(header: ["model", "acc", "acc_norm", "questions"])
    for model in summary.models {
      guard let score = exam.scores[model.label] else { continue }
      table.rows.append([
        HTMLTable.Cell(model.label),
        HTMLTable.Cell(DemoPipeline.scoreText(score.acc, score.accStandardError)),
        HTMLTable.Cell(DemoPipeline.scoreText(score.accNorm, score.accNormStandardError)),
        HTMLTable.Cell(String(score.documents)),
      ])
    }
    let chance = String(format: "%.3f", exam.chance)
    table.rows.append([HTMLTable.Cell("chance", italic: true), .init(chance), .init(chance)])
    return html + table.html()
  }

  func lossTable() -> String {
    var html =
      "<table><tr><th>model</th><th>loss (nats/token)</th><th>perplexity</th><th>tokens</th></tr>\n"
    for model in summary.models {
      guard let loss = summary.comparison.heldOutLoss[model.label] else { continue }
      html += "<tr><td>\(htmlEscaped(model.label))</td><td>\(String(format: "%.4f", loss))</td>"
      html += "<td>\(String(format: "%.1f", exp(loss)))</td>"
      html +=
        "<td>\(summary.comparison.heldOutTokens[model.label].map(String.init) ?? "")</td></tr>\n"
    }
    return html + "</table>\n"
  }

  /// Metrics records of a run (empty when it has none).
  func records(_ run: String) -> [[String: Any]] {
    MetricsLog.read(
      path: (summary.layout.run(run) as NSString).appendingPathComponent("metrics.jsonl"))
  }

  /// `(step, value)` of a numeric key in the step records of a run.
  func series(_ run: String, _ key: String) -> [(x: Double, y: Double)] {
    records(run).compactMap { record in
      guard record["event"] == nil, let step = record["step"] as? Int,
        let value = (record[key] as? NSNumber)?.doubleValue, value.isFinite
      else { return nil }
      return (Double(step), value)
    }
  }

  func plots() -> [SVGPlot] {
    var plots: [SVGPlot] = []
    for (index, run) in summary.trainingRuns.enumerated() {
      let color = Self.colors[index % Self.colors.count]
      var lines = [
        SVGPlot.Series(name: "train loss", color: color, points: series(run.run, "loss"))
      ]
      let held = series(run.run, "eval_loss")
      if !held.isEmpty {
        lines.append(
          SVGPlot.Series(
            name: "held-out loss", color: "#555555", points: held, markers: true, width: 2))
      }
      plots.append(
        SVGPlot(title: "\(run.label): loss", xLabel: "step", yLabel: "loss", series: lines))
      let extra = ["reward_accuracy", "margin"].filter { !self.series(run.run, $0).isEmpty }
      if !extra.isEmpty {
        plots.append(
          SVGPlot(
            title: "\(run.label): reward accuracy and margin", xLabel: "step", yLabel: "value",
            series: extra.enumerated().map { offset, key in
              SVGPlot.Series(
                name: key, color: Self.colors[(index + offset + 1) % Self.colors.count],
                points: self.series(run.run, key))
            }))
      }
    }
    let rates = summary.trainingRuns.enumerated().map { index, run in
      SVGPlot.Series(
        name: run.label, color: Self.colors[index % Self.colors.count],
        points: series(run.run, "lr"))
    }
    if !rates.isEmpty {
      plots.append(
        SVGPlot(title: "Learning rates", xLabel: "step", yLabel: "learning rate", series: rates))
    }
    return plots
  }

  /// Per training run: steps, tokens, seconds, tokens/s, final loss, last held-out loss and,
  /// for DPO, the reward accuracy.
  func trainingFigures() -> [(label: String, cells: [String])] {
    summary.trainingRuns.map { run in
      let steps = records(run.run).filter { $0["event"] == nil && $0["loss"] != nil }
      let tokens = steps.compactMap { $0["tokens"] as? Int }.reduce(0, +)
      let seconds = (steps.last?["elapsed"] as? NSNumber)?.doubleValue ?? 0
      let loss = (steps.last?["loss"] as? NSNumber)?.doubleValue
      let heldOut = series(run.run, "eval_loss").last?.y
      var extra = ""
      let accuracy = series(run.run, "reward_accuracy").suffix(10).map(\.y)
      if !accuracy.isEmpty {
        extra = String(
          format: "reward accuracy %.2f (mean of the last %d steps)",
          accuracy.reduce(0, +) / Double(accuracy.count), accuracy.count)
      }
      if let held = series(run.run, "eval_reward_accuracy").last?.y {
        extra += String(format: "; held-out pairs %.2f", held)
      }
      return (
        run.label,
        [
          "\(steps.count)", "\(tokens)", String(format: "%.0f", seconds),
          seconds > 0 ? String(format: "%.0f", Double(tokens) / seconds) : "",
          loss.map { String(format: "%.3f", $0) } ?? "",
          heldOut.map { String(format: "%.3f", $0) } ?? "", extra,
        ]
      )
    }
  }

  static let trainingColumns = [
    "steps", "tokens", "seconds", "tokens/s", "final loss", "last held-out loss", "",
  ]

  func trainingTable() -> String {
    var html = "<table><tr><th>run</th>"
    html += Self.trainingColumns.map { "<th>\($0)</th>" }.joined() + "</tr>\n"
    for row in trainingFigures() {
      html += "<tr><td>\(htmlEscaped(row.label))</td>"
      html += row.cells.map { "<td>\(htmlEscaped($0))</td>" }.joined() + "</tr>\n"
    }
    return html + "</table>\n"
  }

  func stageTable() -> String {
    let e = htmlEscaped
    var html = "<table><tr><th>stage</th><th>seconds</th><th>commands</th></tr>\n"
    for stage in summary.stages {
      let reused = stage.reused ? " (reused)" : ""
      html +=
        "<tr><td>\(e(stage.name))\(reused)</td><td>\(String(format: "%.1f", stage.seconds))</td><td>"
      html += stage.commands.map { "<code>\(e($0.commandLine))</code>" }.joined(separator: "<br>")
      html += "</td></tr>\n"
    }
    let total = summary.stages.map(\.seconds).reduce(0, +)
    return html
      + "<tr><th>total</th><th>\(String(format: "%.1f", total))</th><td></td></tr></table>\n"
  }
}
