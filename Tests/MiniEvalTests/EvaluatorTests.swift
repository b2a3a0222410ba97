import Foundation
import MiniEval
import TestSupport
import Testing

@Suite("Evaluator")
struct EvaluatorTests {
  @Test func multipleChoiceScoresEqualTheModelsLogLikelihoods() throws {
    let directory = try temporaryDirectory()
    try write(TaskFileTests.questions, "data/questions.jsonl", in: directory)
    let path = try write(TaskFileTests.base, "task.yaml", in: directory)
    let model = try characterModel(maxPositions: 64)
    let task = try EvalTask(contentsOf: path)
    let result = try Evaluator.run(task, model: model, options: EvalOptions(keepSamples: true))
    #expect(result.documentCount == 3)
    var hits: [Double] = []
    var normalizedHits: [Double] = []
    for (sample, document) in zip(result.samples, task.documents) {
      guard case .string(let question)? = document["question"],
        case .array(let choices)? = document["choices"], case .int(let gold)? = document["label"]
      else { Issue.record("bad document"); return }
      let texts = choices.map { value -> String in
        if case .string(let text) = value { return text }
        return ""
      }
      let context = "Question: \(question)\nAnswer:"
      let scores = try model.score(context: context, continuations: texts.map { " " + $0 })
      let lls = scores.map(\.logLikelihood)
      for (response, expected) in zip(sample.responses, lls) {
        guard case .loglikelihood(let score) = response else { continue }
        #expect(abs(score.logLikelihood - expected) <= 1e-9 * abs(expected))
      }
      hits.append(lls.indices.max { lls[$0] < lls[$1] } == gold ? 1 : 0)
      let normalized = zip(lls, texts).map { $0 / Double($1.count) }
      normalizedHits.append(
        normalized.indices.max { normalized[$0] < normalized[$1] } == gold ? 1 : 0)
    }
    let acc = try #require(result.metrics.first { $0.key == "acc,none" })
    let accNorm = try #require(result.metrics.first { $0.key == "acc_norm,none" })
    #expect(acc.value == hits.reduce(0, +) / 3)
    #expect(accNorm.value == normalizedHits.reduce(0, +) / 3)

    let report = EvalReport(
      groups: [GroupResult(name: "toy", subtasks: [result])], settings: ["model": "m"])
    let output = directory + "/results.json"
    try report.write(to: output)
    let data = try #require(FileManager.default.contents(atPath: output))
    let object = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    for key in ["results", "versions", "n-shot", "configs", "config", "samples"] {
      #expect(object[key] != nil, "missing \(key)")
    }
    let toy = try #require((object["results"] as? [String: Any])?["toy"] as? [String: Any])
    #expect(toy["acc,none"] as? Double == acc.value)
    #expect(report.markdownTable.contains("|toy|1|none|0|acc|↑|"))
  }

  @Test func rollingTaskReportsPerplexities() throws {
    let directory = try temporaryDirectory()
    try write(
      "{\"text\": \"the model reads this text in windows\"}\n{\"text\": \"and this one, too\"}\n",
      "text.jsonl", in: directory)
    let path = try write(
      """
      task: text
      dataset_path: json
      dataset_kwargs:
        data_files:
          test: text.jsonl
      test_split: test
      output_type: loglikelihood_rolling
      doc_to_text: ""
      doc_to_target: "{{text}}"

      """, "text.yaml", in: directory)
    let model = try characterModel(maxPositions: 16)
    let result = try Evaluator.run(try EvalTask(contentsOf: path), model: model)
    let texts = ["the model reads this text in windows", "and this one, too"]
    let total = try texts.reduce(0.0) { $0 + (try model.rollingLogLikelihood($1)) }
    let bytes = Double(texts.reduce(0) { $0 + $1.utf8.count })
    let words = Double(texts.reduce(0) { $0 + $1.split(separator: " ").count })
    func value(_ name: String) -> Double? { result.metrics.first { $0.name == name }?.value }
    #expect(abs(value("bits_per_byte")! - (-total / bytes / log(2))) < 1e-9)
    #expect(abs(value("byte_perplexity")! - exp(-total / bytes)) < 1e-9)
    #expect(abs(value("word_perplexity")! - exp(-total / words)) < 1e-9)
  }

  @Test func generationTaskAppliesTheFilter() throws {
    let directory = try temporaryDirectory()
    let model = try characterModel(maxPositions: 48)
    let answer = try model.generate(context: "say it:", until: [], maxTokens: 5)
    let firstWord = answer.split(whereSeparator: \.isWhitespace).first.map(String.init) ?? ""
    try write(
      "{\"q\": \"say it\", \"a\": \"\(firstWord)\"}\n{\"q\": \"say it\", \"a\": \"zzzz\"}\n",
      "gen.jsonl", in: directory)
    let path = try write(
      """
      task: gen
      dataset_path: json
      dataset_kwargs:
        data_files:
          test: gen.jsonl
      test_split: test
      output_type: generate_until
      doc_to_text: "{{q}}:"
      doc_to_target: "{{a}}"
      generation_kwargs:
        max_gen_toks: 5
      filter_list:
        - name: word
          filter:
            - function: regex
              regex_pattern: "(\\\\S+)"
            - function: take_first

      """, "gen.yaml", in: directory)
    let result = try Evaluator.run(
      try EvalTask(contentsOf: path), model: model, options: EvalOptions(keepSamples: true))
    #expect(result.samples[0].responses == [.text(answer)])
    let expectedFirst: Double = firstWord.isEmpty ? 0 : 1
    #expect(result.samples[0].scores["exact_match,word"] == expectedFirst)
    #expect(result.samples[1].scores["exact_match,word"] == 0)
  }
}
