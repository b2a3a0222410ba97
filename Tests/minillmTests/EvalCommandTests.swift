import Foundation
import MiniEval
import PipelineTestSupport
import TestSupport
import Testing

/// `minillm eval --task`: the harness's table and results file, the same numbers as the
/// library, and errors that name the file and row or key.
@Suite struct EvalCommandTests {
  /// A C-Eval layout folder with one subject: `rows` evaluated, three few-shot rows.
  func exam(_ rows: [String], in directory: String) throws -> String {
    let root = directory + "/exam"
    for folder in ["val", "dev"] {
      try FileManager.default.createDirectory(
        atPath: root + "/" + folder, withIntermediateDirectories: true)
    }
    let header = "id,question,A,B,C,D,answer\n"
    try (header + rows.joined(separator: "\n") + "\n").write(
      toFile: root + "/val/poetry_val.csv", atomically: true, encoding: .utf8)
    try (header + "0,床前明月光,疑是,地上,霜,举头,A\n1,春眠不觉晓,处处,闻啼,鸟,夜来,C\n2,白日依山尽,黄河,入海,流,欲穷,B\n")
      .write(toFile: root + "/dev/poetry_dev.csv", atomically: true, encoding: .utf8)
    return root
  }

  static let rows = [
    "0,明月几时有,把酒,问青天,不知,天上,B", "1,人生若只如初见,何事,秋风,悲画扇,等闲,C",
    "2,大江东去,浪淘尽,千古,风流,人物,A", "3,春花秋月何时了,往事,知多少,小楼,昨夜,D",
  ]

  @Test(.requires(.built("minillm"))) func ceValFolderGivesTheLibrarysResults() throws {
    guard let executable = minillmExecutable() else { return }
    let directory = try temporaryDirectory()
    let root = try exam(Self.rows, in: directory)
    let model = try makeChatModelDirectory(tokenizer: tinyChatTokenizer(), maxPositions: 256)
    let output = directory + "/results.json"
    let result = try runMinillmCapturing(
      executable,
      [
        "eval", "--model", model, "--task", "ceval:" + root, "--num-fewshot", "2", "--log-samples",
        "--output", output,
      ])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output.contains("|ceval-valid_poetry|2|none|2|acc|↑|"))
    let data = try #require(FileManager.default.contents(atPath: output))
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let results = try #require(object["results"] as? [String: Any])
    let subject = try #require(results["ceval-valid_poetry"] as? [String: Any])
    #expect((object["n-shot"] as? [String: Any])?["ceval-valid_poetry"] as? Int == 2)
    let samples = try #require(
      (object["samples"] as? [String: Any])?["ceval-valid_poetry"] as? [Any])
    #expect(samples.count == Self.rows.count)

    let library = try EvalSuite.run(
      model: EvalModel(directory: model), specifications: ["ceval:" + root],
      options: EvalOptions(numFewshot: 2))
    let expected = try #require(library.groups.first?.subtasks.first)
    for metric in expected.metrics {
      #expect(subject[metric.key] as? Double == metric.value, "\(metric.key)")
    }
  }

  @Test(.requires(.built("minillm"))) func badFilesAreNamedWithTheirRowOrKey() throws {
    guard let executable = minillmExecutable() else { return }
    let directory = try temporaryDirectory()
    let model = try makeChatModelDirectory(tokenizer: tinyChatTokenizer())
    let root = try exam(["0,明月几时有,把酒,问青天,不知,天上,B", "1,人生若只如初见,何事,秋风,悲画扇,等闲,E"], in: directory)
    let answer = try runMinillmCapturing(
      executable, ["eval", "--model", model, "--task", "ceval:" + root])
    #expect(answer.status != 0)
    #expect(answer.error.contains("poetry_val.csv: row 3"), "\(answer.error)")

    let task = directory + "/task.yaml"
    try
      "task: t\ndataset_path: json\ndataset_kwargs:\n  data_files: x.jsonl\ntest_split: train\nshots: 3\n"
      .write(toFile: task, atomically: true, encoding: .utf8)
    let key = try runMinillmCapturing(executable, ["eval", "--model", model, "--task", task])
    #expect(key.status != 0)
    #expect(key.error.contains("task.yaml: key shots"), "\(key.error)")
  }
}
