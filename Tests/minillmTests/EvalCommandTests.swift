import Foundation
import MiniEval
import MiniLlama
import MiniTensor
import MiniTrain
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

  /// A multiple-choice task named `poem<a&b>` over four questions; returns the YAML's path.
  func markupNamedTask(in directory: String) throws -> String {
    let data = directory + "/poems.jsonl"
    try [
      #"{"question": "床前明月光", "choices": ["疑是地上霜", "春风", "大江"], "answer": 0}"#,
      #"{"question": "春眠不觉晓", "choices": ["明月", "处处闻啼鸟", "黄河"], "answer": 1}"#,
      #"{"question": "白日依山尽", "choices": ["把酒", "问青天", "黄河入海流"], "answer": 2}"#,
      #"{"question": "人生若只如初见", "choices": ["何事秋风悲画扇", "千古", "风流"], "answer": 0}"#,
    ].joined(separator: "\n").write(toFile: data, atomically: true, encoding: .utf8)
    let task = directory + "/poems.yaml"
    try """
    task: "poem<a&b>"
    dataset_path: json
    dataset_kwargs:
      data_files:
        test: \(data)
    test_split: test
    output_type: multiple_choice
    doc_to_text: "{{question}}"
    doc_to_choice: choices
    doc_to_target: answer
    metric_list:
      - metric: acc
      - metric: acc_norm

    """.write(toFile: task, atomically: true, encoding: .utf8)
    return task
  }

  /// `results[task]` of a results JSON file.
  func results(_ path: String, _ task: String) throws -> [String: Any] {
    let data = try #require(FileManager.default.contents(atPath: path), "\(path)")
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    return try #require((object["results"] as? [String: Any])?[task] as? [String: Any], "\(task)")
  }

  @Test(.requires(.built("minillm"))) func tablesAreWrittenAsMarkdownAndEscapedHTML() throws {
    guard let executable = minillmExecutable() else { return }
    let directory = try temporaryDirectory()
    let task = try markupNamedTask(in: directory)
    let model = try makeChatModelDirectory(tokenizer: tinyChatTokenizer(), maxPositions: 256)
    let tables = directory + "/tables"
    try FileManager.default.createDirectory(atPath: tables, withIntermediateDirectories: true)
    let result = try runMinillmCapturing(
      executable,
      [
        "eval", "--model", model, "--task", task, "--output", directory + "/results.json",
        "--table", tables + "/results.html", "--table", tables + "/results.md",
      ])
    #expect(result.status == 0, "\(result.error)")
    // Only the two tables: no temporary file is left beside them.
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: tables).sorted()
        == ["results.html", "results.md"])

    // The Markdown file is the printed table.
    let markdown = try String(contentsOfFile: tables + "/results.md", encoding: .utf8)
    #expect(markdown.hasPrefix("|Tasks|Version|Filter|n-shot|Metric| |Value| |Stderr|\n"))
    #expect(result.output.contains(markdown), "\(result.output)")

    // The HTML page holds every value and standard error of the results JSON, with the task's
    // name escaped.
    let html = try String(contentsOfFile: tables + "/results.html", encoding: .utf8)
    let scores = try results(directory + "/results.json", "poem<a&b>")
    #expect(html.hasPrefix("<!DOCTYPE html>") && html.hasSuffix("</html>\n"))
    #expect(html.contains("<td>poem&lt;a&amp;b&gt;</td>"), "\(html)")
    #expect(!html.contains("poem<a"))
    #expect(!html.lowercased().contains("<script") && !html.contains("src="))
    for metric in ["acc", "acc_norm"] {
      let value = try #require(scores["\(metric),none"] as? Double)
      let error = try #require(scores["\(metric)_stderr,none"] as? Double)
      #expect(html.contains("<td>\(metric)</td>"))
      #expect(html.contains(">\(String(format: "%.4f", value))</td>"), "\(metric) \(value)")
      #expect(html.contains(">\(String(format: "%.4f", error))</td>"), "\(metric) ± \(error)")
    }
    // The results' heading and two metrics; the settings' heading, model and fewshot_seed.
    #expect(html.components(separatedBy: "<tr>").count - 1 == 3 + 3)

    let refused = try runMinillmCapturing(
      executable,
      ["eval", "--model", model, "--data", directory, "--table", tables + "/x.md"])
    #expect(refused.status != 0 && refused.error.contains("--table"), "\(refused.error)")
  }

  /// A training run's folder: `metrics.jsonl` of three steps and the model as `model/`.
  func runFolder(model: String, in directory: String) throws -> String {
    let run = directory + "/run"
    try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: model, toPath: run + "/model")
    try (1...3).map { #"{"step": \#($0), "loss": \#(5 - $0), "lr": 0.001, "tokens": 64}"# }
      .joined(separator: "\n").write(
        toFile: run + "/metrics.jsonl", atomically: true, encoding: .utf8)
    return run
  }

  @Test(.requires(.built("minillm"))) func evalOfARunsModelIsKeptInTheRunAndItsReport() throws {
    guard let executable = minillmExecutable() else { return }
    let directory = try temporaryDirectory()
    let task = try markupNamedTask(in: directory)
    let exam = try exam(Self.rows, in: directory)
    let run = try runFolder(
      model: try makeChatModelDirectory(tokenizer: tinyChatTokenizer(), maxPositions: 256),
      in: directory)
    let output = directory + "/results.json"
    let result = try runMinillmCapturing(
      executable,
      [
        "eval", "--model", run + "/model/", "--task", task, "--task", "ceval:" + exam, "--output",
        output,
      ])
    #expect(result.status == 0, "\(result.error)")
    // One results file a task or group, named after it, with the scores of --output.
    #expect(
      try FileManager.default.contentsOfDirectory(atPath: run + "/eval").sorted()
        == ["ceval-valid.json", "poem_a_b_.json"])
    for (file, task) in [("poem_a_b_", "poem<a&b>"), ("ceval-valid", "ceval-valid_poetry")] {
      let kept = try results(run + "/eval/\(file).json", task)
      let all = try results(output, task)
      #expect(kept["acc,none"] as? Double == all["acc,none"] as? Double, "\(task)")
      #expect(kept["acc_stderr,none"] as? Double == all["acc_stderr,none"] as? Double)
    }

    // The report shows the scores (escaped) and names a broken results file as unreadable.
    try "{\"results\": ".write(
      toFile: run + "/eval/broken.json", atomically: true, encoding: .utf8)
    let report = try runMinillmCapturing(
      executable, ["report", "--run", run, "--max-new-tokens", "0"])
    #expect(report.status == 0, "\(report.error)")
    let html = try String(contentsOfFile: run + "/report.html", encoding: .utf8)
    #expect(html.contains("<h2>Benchmarks</h2>"))
    #expect(html.contains("<code>eval/broken.json</code>: unreadable"), "\(html)")
    #expect(html.contains("<td>poem&lt;a&amp;b&gt;</td>") && !html.contains("poem<a"))
    for (file, task) in [("poem_a_b_", "poem<a&b>"), ("ceval-valid", "ceval-valid_poetry")] {
      let scores = try results(run + "/eval/\(file).json", task)
      let value = try #require(scores["acc,none"] as? Double)
      let error = try #require(scores["acc_stderr,none"] as? Double)
      let shown = String(format: "%.4f ± %.4f", value, error)
      #expect(html.contains("<td>\(htmlText(task))</td><td>acc</td><td>none</td>"))
      #expect(html.contains(">\(shown)</td>"), "\(task): \(shown)")
    }
  }

  func htmlText(_ text: String) -> String {
    text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
      .replacingOccurrences(of: ">", with: "&gt;")
  }

  /// Per-document log-likelihoods (`resps`) of a results JSON written with `--log-samples`.
  func logLikelihoods(_ path: String, _ task: String) throws -> [Double] {
    let data = try #require(FileManager.default.contents(atPath: path))
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let samples = try #require((object["samples"] as? [String: Any])?[task] as? [[String: Any]])
    return try samples.flatMap { sample in
      let responses = try #require(sample["resps"] as? [[[Any]]])
      return try responses.map { try #require($0.first?.first as? Double) }
    }
  }

  @Test(.requires(.built("minillm"))) func taskOnAGGUFFileAndWithAnAdapter() throws {
    guard let executable = minillmExecutable() else { return }
    let directory = try temporaryDirectory()
    let root = try exam(Self.rows, in: directory)
    let model = try makeChatModelDirectory(tokenizer: tinyChatTokenizer(), maxPositions: 256)
    let task = "ceval-valid_poetry"
    func evaluate(_ arguments: [String], _ name: String) throws -> [Double] {
      let output = directory + "/\(name).json"
      let result = try runMinillmCapturing(
        executable,
        ["eval"] + arguments + [
          "--task", "ceval:" + root, "--num-fewshot", "1", "--log-samples", "--output", output,
        ])
      #expect(result.status == 0, "\(result.error)")
      return try logLikelihoods(output, task)
    }
    let base = try evaluate(["--model", model], "base")
    #expect(base.count == Self.rows.count * 4)

    // The same f32 weights in a GGUF file (its own vocabulary and tokenizer flags).
    let gguf = directory + "/model.gguf"
    try ModelDirectory(path: model).exportGGUF(to: gguf, options: GGUFExportOptions(type: .f32))
    let fromGGUF = try evaluate(["--model", gguf], "gguf")
    #expect(fromGGUF.count == base.count)
    // Tolerance: the same f32 weights (the GGUF's q/k rows permuted and back), but the file runs
    // as llama.cpp does, its keys and values cached in half precision (2⁻¹¹ relative each):
    // a few thousandths on these log-likelihoods of a dozen tokens.
    for (a, b) in zip(fromGGUF, base) {
      #expect(abs(a - b) < 2e-2 && abs(a - b) <= 2e-3 * abs(b) + 1e-4, "\(a) vs \(b)")
    }

    // Adapters with non-zero B: the command's scores are the library's on the adapted model.
    let lora = LoRAModel(
      base: try Llama(directory: model), configuration: LoRAConfiguration(rank: 2), seed: 3)
    var rng = PhiloxRNG(seed: 9)
    for parameter in lora.arena.parameters {
      let count = parameter.shape.reduce(1, *)
      parameter.assign(
        Tensor((0..<count).map { _ in 0.3 * (2 * rng.nextUniform() - 1) }, shape: parameter.shape))
    }
    let adapterFolder = directory + "/adapter"
    try lora.saveAdapter(to: adapterFolder)
    let adapted = try evaluate(["--model", model, "--adapter", adapterFolder], "adapted")
    let library = try EvalSuite.run(
      model: EvalModel(
        model: LoRAModel(base: try Llama(directory: model), adapterDirectory: adapterFolder).model,
        directory: model),
      specifications: ["ceval:" + root], options: EvalOptions(numFewshot: 1, keepSamples: true))
    let expected = try #require(library.groups.first?.subtasks.first).samples.flatMap { sample in
      sample.responses.compactMap { response -> Double? in
        if case .loglikelihood(let score) = response { return score.logLikelihood }
        return nil
      }
    }
    // Tolerance: the same weights; last-bit differences of the command's and this process's
    // threaded sums.
    #expect(adapted.count == expected.count)
    for (a, b) in zip(adapted, expected) { #expect(abs(a - b) < 1e-9, "\(a) vs \(b)") }
    #expect(zip(adapted, base).contains { abs($0 - $1) > 1e-3 }, "the adapters changed nothing")
    // Neither a GGUF file nor a loose adapter folder is a run: nothing is kept beside them.
    #expect(!FileManager.default.fileExists(atPath: directory + "/eval"))
  }
}
