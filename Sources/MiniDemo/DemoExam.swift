import Foundation
import MiniTensor

/// One question of the demo's multiple-choice exam.
public struct DemoExamItem: Sendable, Hashable {
  /// What the question asks (`poem_author`, `poem_continuation` or `man_page`).
  public var kind: InstructionRecord.Kind
  /// The question, as a held-out SFT record asks it.
  public var question: String
  /// The answers to choose from: the reference answer and three others of the same form.
  public var choices: [String]
  /// The index of the reference answer in `choices`.
  public var answer: Int

  /// Creates an item.
  public init(kind: InstructionRecord.Kind, question: String, choices: [String], answer: Int) {
    self.kind = kind
    self.question = question
    self.choices = choices
    self.answer = answer
  }
}

/// The part of an answer that differs between the choices of an exam question: `before` and
/// `after` are kept, `key` is swapped for another value of its kind (another poet, another line
/// of the same length, another man page's description).
struct ExamAnswer: Sendable, Hashable {
  var before: String
  var key: String
  var after: String

  func with(_ key: String) -> String { before + key + after }
}

/// The demo's Chinese multiple-choice exam: which poet wrote a poem, which half-line or line
/// follows, what a command does. The questions are held-out SFT questions (none is in the SFT or
/// preference data); the wrong choices are drawn from the same texts. Written as JSON Lines and an
/// lm-evaluation-harness task file that `minillm eval --task` and `lm_eval --include_path` read.
public enum DemoExam {
  /// The task's name in both harnesses.
  public static let taskName = "demo_exam"
  /// The kinds asked, and at most how many questions of each.
  public static let kinds: [InstructionRecord.Kind] = [.poemAuthor, .poemContinuation, .manPage]
  public static let questionsPerKind = 20
  /// Choices per question (so chance is 1 / `choiceCount`).
  public static let choiceCount = 4

  /// Exam items for held-out records whose answer is known (`answers`, keyed by question),
  /// with wrong choices from `pools` (values of the key per kind). Items whose kind has fewer
  /// than three other values are skipped. The same inputs and seed give the same items.
  static func items(
    heldOut: [InstructionRecord], answers: [String: ExamAnswer],
    pools: [InstructionRecord.Kind: [String]], seed: UInt64
  ) -> [DemoExamItem] {
    var rng = SplitMix64(seed: seed ^ 0x6578_616d)
    var items: [DemoExamItem] = []
    for kind in kinds {
      let pool = Array(Set(pools[kind] ?? [])).sorted()
      var count = 0
      for record in heldOut where record.kind == kind && count < questionsPerKind {
        guard let answer = answers[record.instruction] else { continue }
        let others = pool.filter { $0 != answer.key }
        // Lines of the same length as the answer, when there are enough: a choice's length
        // alone should not give it away.
        let sameLength = others.filter { $0.count == answer.key.count }
        var candidates = sameLength.count >= 3 * (choiceCount - 1) ? sameLength : others
        guard candidates.count >= choiceCount - 1 else { continue }
        rng.shuffle(&candidates)
        var choices = [answer.key] + candidates.prefix(choiceCount - 1)
        rng.shuffle(&choices)
        let index = choices.firstIndex(of: answer.key)!
        items.append(
          DemoExamItem(
            kind: kind, question: record.instruction, choices: choices.map(answer.with),
            answer: index))
        count += 1
      }
    }
    return items
  }

  /// The task file for the exam's data at `dataFile` (an absolute path, so `lm_eval` finds it
  /// from any folder). Zero-shot; the prompt is the question and a new line, each choice follows
  /// it directly; `acc` and `acc_norm`.
  public static func taskYAML(dataFile: String) -> String {
    """
    task: \(taskName)
    dataset_path: json
    dataset_kwargs:
      data_files:
        test: \(jsonStringLiteral(dataFile))
    test_split: test
    output_type: multiple_choice
    doc_to_text: "{{question}}\\n"
    doc_to_choice: choices
    doc_to_target: answer
    target_delimiter: ""
    num_fewshot: 0
    metric_list:
      - metric: acc
        aggregation: mean
        higher_is_better: true
      - metric: acc_norm
        aggregation: mean
        higher_is_better: true
    metadata:
      version: 1.0

    """
  }

  /// Writes `FOLDER/demo_exam.jsonl` (`id`, `kind`, `question`, `choices`, `answer`) and
  /// `FOLDER/demo_exam.yaml`, each atomically.
  ///
  /// - Returns: The task file's path.
  /// - Throws: When a file cannot be written.
  @discardableResult
  public static func write(_ items: [DemoExamItem], to folder: String) throws -> String {
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let absolute = URL(fileURLWithPath: folder).standardizedFileURL.path
    let dataFile = (absolute as NSString).appendingPathComponent("\(taskName).jsonl")
    var text = ""
    for (index, item) in items.enumerated() {
      let object: [String: Any] = [
        "id": index, "kind": item.kind.rawValue, "question": item.question,
        "choices": item.choices, "answer": item.answer,
      ]
      let line = try JSONSerialization.data(
        withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])
      text += String(decoding: line, as: UTF8.self) + "\n"
    }
    try Data(text.utf8).write(to: URL(fileURLWithPath: dataFile), options: .atomic)
    let task = (absolute as NSString).appendingPathComponent("\(taskName).yaml")
    try Data(taskYAML(dataFile: dataFile).utf8).write(
      to: URL(fileURLWithPath: task), options: .atomic)
    return task
  }
}
