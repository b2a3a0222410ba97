import Foundation
import MiniTrain

/// Every model's score on the demo's exam (`minillm eval --task …/demo_exam.yaml`).
struct DemoExamScores {
  /// One model's figures, read from its results JSON.
  struct Score {
    var acc: Double
    var accStandardError: Double?
    var accNorm: Double
    var accNormStandardError: Double?
    var documents: Int
  }

  /// Model label → score (models whose evaluation did not run are missing).
  var scores: [String: Score] = [:]
  /// Questions of the exam.
  var questions = 0
  /// The score of guessing: the mean over questions of 1 / choices.
  var chance = 0.0
  /// Questions per kind (`poem_author`, …).
  var kinds: [(kind: String, count: Int)] = []

  /// Reads the exam's data file: question count, chance level and kinds.
  /// - Throws: `DemoError` naming the file when a line is not an exam item.
  static func describe(_ path: String) throws -> (questions: Int, chance: Double, kinds: [String]) {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DemoError("demo: \(path) cannot be read")
    }
    var chance = 0.0
    var kinds: [String] = []
    let lines = String(decoding: data, as: UTF8.self).split(separator: "\n")
    for (number, line) in lines.enumerated() {
      guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
        let choices = object["choices"] as? [String], !choices.isEmpty,
        let kind = object["kind"] as? String
      else {
        throw DemoError("demo: \(path) line \(number + 1): not an exam item with choices and kind")
      }
      chance += 1 / Double(choices.count)
      kinds.append(kind)
    }
    return (lines.count, lines.isEmpty ? 0 : chance / Double(lines.count), kinds)
  }

  /// Reads `results[demo_exam]` of a results JSON written by `minillm eval --output`.
  static func score(resultsFile path: String) -> Score? {
    guard let metrics = try? BenchmarkResults(contentsOf: path).metrics(of: DemoExam.taskName),
      let acc = metrics["acc"], let accNorm = metrics["acc_norm"]
    else { return nil }
    return Score(
      acc: acc.value, accStandardError: acc.standardError, accNorm: accNorm.value,
      accNormStandardError: accNorm.standardError, documents: acc.samples ?? 0)
  }
}

extension DemoPipeline {
  /// Scores every model on the exam that `demo sft-data` wrote (held-out questions, four
  /// choices, zero-shot, scored by log-likelihood as lm-evaluation-harness scores them).
  mutating func exam() throws -> DemoExamScores {
    var scores = DemoExamScores()
    guard FileManager.default.fileExists(atPath: layout.examTask) else { return scores }
    let models = self.models
    try runner.stage(
      "12-exam", "Exam: \(DemoExam.taskName), held-out multiple-choice questions, every model",
      produces: models.map { layout.examResults($0.run) }
    ) {
      try FileManager.default.createDirectory(
        atPath: layout.exam, withIntermediateDirectories: true)
      return models.map { model in
        [
          "eval", "--model", layout.model(model.run), "--task", layout.examTask, "--log-samples",
          "--output", layout.examResults(model.run),
        ]
      }
    }
    let described = try DemoExamScores.describe(layout.examData)
    scores.questions = described.questions
    scores.chance = described.chance
    var counts: [String: Int] = [:]
    for kind in described.kinds { counts[kind, default: 0] += 1 }
    scores.kinds = DemoExam.kinds.map(\.rawValue).compactMap { kind in
      counts[kind].map { (kind, $0) }
    }
    for model in models {
      scores.scores[model.label] = DemoExamScores.score(resultsFile: layout.examResults(model.run))
    }
    printExam(scores)
    return scores
  }

  func printExam(_ exam: DemoExamScores) {
    let kinds = exam.kinds.map { "\($0.count) \($0.kind)" }.joined(separator: ", ")
    say(
      "\nExam (\(DemoExam.taskName): \(exam.questions) held-out questions, \(kinds); zero-shot; chance \(String(format: "%.3f", exam.chance))):"
    )
    say("  model       acc              acc_norm")
    for model in models {
      guard let score = exam.scores[model.label] else { continue }
      say(
        "  \(model.label.padding(toLength: 11, withPad: " ", startingAt: 0)) \(Self.scoreText(score.acc, score.accStandardError))  \(Self.scoreText(score.accNorm, score.accNormStandardError))"
      )
    }
    say("  chance      \(String(format: "%.3f", exam.chance))")
  }

  /// `0.317 ± 0.060`.
  static func scoreText(_ value: Double, _ error: Double?) -> String {
    BenchmarkResults.scoreText(value, error, decimals: 3)
  }
}
