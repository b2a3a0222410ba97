import Foundation
import MiniEval
import MiniLlama
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

  @Test func perplexityHasTheBootstrapStandardErrorUnlessIterationsAreZero() throws {
    let directory = try temporaryDirectory()
    try write(
      "{\"q\": \"a cat\", \"a\": \"sat\"}\n{\"q\": \"the dog\", \"a\": \"ran far\"}\n"
        + "{\"q\": \"one\", \"a\": \"two\"}\n", "pairs.jsonl", in: directory)
    let path = try write(
      """
      task: pairs
      dataset_path: json
      dataset_kwargs:
        data_files:
          test: pairs.jsonl
      test_split: test
      output_type: loglikelihood
      doc_to_text: "{{q}}"
      doc_to_target: "{{a}}"
      metric_list:
        - metric: perplexity
        - metric: acc

      """, "pairs.yaml", in: directory)
    let model = try characterModel()
    let task = try EvalTask(contentsOf: path)
    let result = try Evaluator.run(task, model: model, options: EvalOptions(keepSamples: true))
    let logLikelihoods = result.samples.compactMap { sample -> Double? in
      guard case .loglikelihood(let score)? = sample.responses.first else { return nil }
      return score.logLikelihood
    }
    #expect(logLikelihoods.count == 3)
    let perplexity = try #require(result.metrics.first { $0.name == "perplexity" })
    #expect(perplexity.value == EvalMetrics.perplexity(logLikelihoods))
    #expect(
      perplexity.standardError
        == EvalMetrics.bootstrapStandardError(EvalMetrics.perplexity, logLikelihoods))
    #expect(perplexity.standardError != nil)
    #expect(result.metrics.first { $0.name == "acc" }?.standardError != nil)
    // As the harness's --bootstrap_iters 0: no standard error for any metric.
    let none = try Evaluator.run(task, model: model, options: EvalOptions(bootstrapIterations: 0))
    #expect(none.metrics.count == 2 && none.metrics.allSatisfy { $0.standardError == nil })
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

@Suite("MMLU categories")
struct MMLUCategoryTests {
  /// MMLU's subjects are reported inside `mmlu` by category, each category the size-weighted
  /// mean of its subjects and `mmlu` pooled over the categories, as lm-evaluation-harness nests
  /// them; a subject outside MMLU's list stays a direct member of `mmlu`.
  @Test func subjectsAreGroupedByCategory() throws {
    let directory = try temporaryDirectory()
    let subjects = [
      ("abstract_algebra", 3), ("anatomy", 2), ("philosophy", 2), ("marketing", 3),
      ("toy_subject", 2),
    ]
    for (subject, rows) in subjects {
      let lines = (0..<rows).map { "q\($0),a,b,c,d,\(["A", "B", "C", "D"][$0 % 4])\n" }
      try write(lines.joined(), "mmlu/test/\(subject)_test.csv", in: directory)
    }
    let tokenizer = CharacterTokenizer(
      alphabet: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,:?()\n")
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 32, intermediateSize: 64, layerCount: 2,
      headCount: 4, kvHeadCount: 2, maxPositions: 160, initializerRange: 0.2)
    let model = try EvalModel(model: Llama(config: config, seed: 5), tokenizer: tokenizer)
    let report = try EvalSuite.run(
      model: model, specifications: ["mmlu:" + directory + "/mmlu"], options: EvalOptions())
    let object = report.jsonObject
    let results = try #require(object["results"] as? [String: [String: Any]])
    let groupSubtasks = try #require(object["group_subtasks"] as? [String: [String]])
    #expect(
      groupSubtasks["mmlu"] == ["mmlu_stem", "mmlu_other", "mmlu_humanities", "mmlu_toy_subject"])
    #expect(groupSubtasks["mmlu_stem"] == ["mmlu_abstract_algebra", "mmlu_anatomy"])
    #expect(groupSubtasks["mmlu_humanities"] == ["mmlu_philosophy"])
    #expect(groupSubtasks["mmlu_social_sciences"] == nil)
    #expect(results["mmlu_stem"]?["alias"] as? String == " - stem")
    #expect(results["mmlu_anatomy"]?["alias"] as? String == "  - mmlu_anatomy")
    #expect(results["mmlu_toy_subject"]?["alias"] as? String == " - mmlu_toy_subject")

    func acc(_ name: String) throws -> (Double, Double) {
      let entry = try #require(results[name])
      return (
        try #require(entry["acc,none"] as? Double),
        try #require(entry["acc_stderr,none"] as? Double)
      )
    }
    let stem = try acc("mmlu_stem")
    let expectedStem = (try acc("mmlu_abstract_algebra").0 * 3 + acc("mmlu_anatomy").0 * 2) / 5
    #expect(abs(stem.0 - expectedStem) <= 1e-12)
    let members = [
      ("mmlu_stem", 5), ("mmlu_other", 3), ("mmlu_humanities", 2), ("mmlu_toy_subject", 2),
    ]
    let values = try members.map { try acc($0.0) }
    let total = try acc("mmlu")
    let sizes = members.map(\.1)
    #expect(abs(total.0 - EvalMetrics.pooledMean(values.map(\.0), sizes: sizes)) <= 1e-12)
    #expect(
      abs(total.1 - EvalMetrics.pooledStandardError(values.map(\.1), sizes: sizes)) <= 1e-12)
    let table = report.markdownTable
    let stemRow = try #require(table.range(of: "|mmlu_stem|"))
    let mmluRow = try #require(table.range(of: "|mmlu|"))
    #expect(stemRow.lowerBound < mmluRow.lowerBound)
  }
}
