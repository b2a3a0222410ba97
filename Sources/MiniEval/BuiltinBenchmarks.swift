import Foundation
import MiniTokenize

/// The multiple-choice exams shipped as one CSV file per subject, run with the harness's prompts
/// and descriptions: `ceval:DIR` (C-Eval: `val/<subject>_val.csv` evaluated, else `test/`;
/// `dev/<subject>_dev.csv` for few-shot), `cmmlu:DIR` (CMMLU: `test/<subject>.csv`,
/// `dev/<subject>.csv`) and `mmlu:DIR` (MMLU: `test/<subject>_test.csv`, `dev/<subject>_dev.csv`).
/// Rows are `id?, question, A, B, C, D, answer` with a header (C-Eval, CMMLU, any case) or
/// without one (MMLU); the answer is a letter. Few-shot examples are the first rows of `dev`.
public enum BuiltinBenchmark: String, Sendable, CaseIterable {
  case ceval
  case cmmlu
  case mmlu

  /// Parses `ceval:DIR`, `cmmlu:DIR` or `mmlu:DIR`; `nil` for anything else (a task file).
  public static func parse(_ specification: String) -> (BuiltinBenchmark, String)? {
    guard let colon = specification.firstIndex(of: ":"),
      let kind = BuiltinBenchmark(rawValue: String(specification[..<colon]))
    else { return nil }
    return (kind, String(specification[specification.index(after: colon)...]))
  }

  /// One task per subject of `directory`, in subject order.
  /// - Throws: `EvalError` naming the file (and row) when a folder has no CSV files, a column
  ///   is missing, an answer is not one of A–D or a choice is empty.
  public func tasks(in directory: String) throws -> [EvalTask] {
    let folders = self == .ceval ? ["val", "test"] : ["test", "val"]
    guard
      let evaluated = folders.first(where: {
        !csvFiles(in: directory + "/" + $0).isEmpty
      })
    else {
      throw EvalError(
        file: directory, "no CSV files in \(folders.map { "\($0)/" }.joined(separator: " or "))")
    }
    let files = csvFiles(in: directory + "/" + evaluated)
    let devFiles = csvFiles(in: directory + "/dev")
    return try files.map { file in
      let subject = Self.subject(of: file)
      let path = directory + "/" + evaluated + "/" + file
      let documents = try Self.readExam(path)
      let dev = devFiles.first { Self.subject(of: $0) == subject }
      let pool = try dev.map { try Self.readExam(directory + "/dev/" + $0) } ?? []
      return EvalTask(
        config: taskConfig(subject: subject, split: evaluated), documents: documents,
        fewshotDocuments: pool, origin: path)
    }
  }

  /// The group name the subjects are reported under.
  public var groupName: String {
    switch self {
    case .ceval: "ceval-valid"
    case .cmmlu: "cmmlu"
    case .mmlu: "mmlu"
    }
  }

  /// The task of one subject (`split` the evaluated folder): the harness's prompt, description,
  /// metrics and version for this exam.
  public func taskConfig(subject: String, split: String) -> TaskConfig {
    let text: String
    let description: String
    let name: String
    switch self {
    case .ceval:
      text = "{{question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n答案："
      let named = Self.cevalSubjectNames[subject] ?? subject
      description = "以下是中国关于\(named)的单项选择题，请选出其中的正确答案。\n\n"
      name = "ceval-valid_\(subject)"
    case .cmmlu:
      text = "{{question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n答案："
      let named = Self.cmmluSubjectNames[subject] ?? subject
      description = "以下是关于\(named)的单项选择题，请直接给出正确答案的选项。\n\n"
      name = "cmmlu_\(subject)"
    case .mmlu:
      text = "{{question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\nAnswer:"
      let spaced = subject.replacingOccurrences(of: "_", with: " ")
      description =
        "The following are multiple choice questions (with answers) about \(spaced).\n\n"
      name = "mmlu_\(subject)"
    }
    var config = TaskConfig(
      task: name, datasetFormat: .csv, dataFiles: [:], testSplit: split,
      outputType: .multipleChoice, docToText: .template(text),
      docToChoice: .list(["A", "B", "C", "D"]), docToTarget: .template("answer"))
    config.description = description
    config.fewshotSplit = "dev"
    config.fewshotSampler = "first_n"
    config.metrics =
      self == .mmlu
      ? [TaskMetric(name: "acc")] : [TaskMetric(name: "acc"), TaskMetric(name: "acc_norm")]
    config.version = self == .ceval ? 2 : 1
    return config
  }

  private func csvFiles(in folder: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [])
      .filter { $0.hasSuffix(".csv") }.sorted()
  }

  /// The subject of `accountant_val.csv`, `anatomy_test.csv` or `agronomy.csv`.
  static func subject(of file: String) -> String {
    var name = String(file.dropLast(4))
    for suffix in ["_val", "_test", "_dev"] where name.hasSuffix(suffix) {
      name = String(name.dropLast(suffix.count))
    }
    return name
  }

  /// The rows of an exam file as documents with the fields `id` (when the file has it),
  /// `question`, `A`–`D` and `answer`.
  static func readExam(_ path: String) throws -> [TaskDocument] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw EvalError(file: path, "cannot be read")
    }
    let rows = try CSVRows.parse(String(decoding: data, as: UTF8.self), path: path)
    guard let first = rows.first else { throw EvalError(file: path, "empty") }
    let header = first.cells.map { $0.lowercased() }
    let hasHeader = header.contains("question") || header.contains("answer")
    let wanted = ["question", "a", "b", "c", "d", "answer"]
    var columns: [String: Int] = [:]
    if hasHeader {
      for name in wanted {
        guard let index = header.firstIndex(of: name) else {
          throw EvalError(
            file: path, at: "row \(first.line)",
            "no column \"\(name)\" in the header (expected id?, question, A, B, C, D, answer)")
        }
        columns[name] = index
      }
      if let id = header.firstIndex(where: { $0 == "id" || $0.isEmpty }) { columns["id"] = id }
    } else {
      guard first.cells.count == 6 else {
        throw EvalError(
          file: path, at: "row \(first.line)",
          "\(first.cells.count) cells and no header: expected question, A, B, C, D, answer")
      }
      for (index, name) in wanted.enumerated() { columns[name] = index }
    }
    let body = hasHeader ? Array(rows.dropFirst()) : rows
    return try body.map { row in
      guard row.cells.count == (hasHeader ? header.count : 6) else {
        throw EvalError(
          file: path, at: "row \(row.line)",
          "\(row.cells.count) cells, expected \(hasHeader ? header.count : 6)")
      }
      func cell(_ name: String) -> String { row.cells[columns[name]!] }
      var fields: [(String, JinjaValue)] = []
      if let id = columns["id"] {
        let text = row.cells[id]
        fields.append(("id", Int(text).map(JinjaValue.int) ?? .string(text)))
      }
      fields.append(("question", .string(cell("question"))))
      for letter in ["A", "B", "C", "D"] {
        let choice = cell(letter.lowercased())
        guard !choice.isEmpty else {
          throw EvalError(file: path, at: "row \(row.line)", "choice \(letter) is empty")
        }
        fields.append((letter, .string(choice)))
      }
      let answer = cell("answer").trimmingCharacters(in: .whitespaces)
      guard ["A", "B", "C", "D"].contains(answer) else {
        throw EvalError(
          file: path, at: "row \(row.line)",
          "answer \(answer.debugDescription) is not one of A, B, C, D")
      }
      fields.append(("answer", .string(answer)))
      return TaskDocument(fields: fields, origin: "\(path) row \(row.line)")
    }
  }
}
