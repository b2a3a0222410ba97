import Foundation
import MiniEval
import MiniLlama
import MiniTokenize
import TestSupport
import Testing

/// MiniEval against lm-evaluation-harness (`lm_eval --model hf`) on one tiny model directory:
/// the same prompts, per-choice log-likelihoods within 1e-4 relative, the same acc and acc_norm,
/// rolling log-likelihoods and bits per byte, and the same greedy answers.
///
/// The model's tokenizer is a byte-level BPE `tokenizer.json` (trained here with `tokenizers`),
/// which MiniTokenize and `AutoTokenizer` encode alike.
@Suite("lm-evaluation-harness parity", .serialized)
struct HarnessParityTests {
  static let modules = ["lm_eval", "tokenizers", "transformers", "torch"]

  static let tokenizerScript = #"""
    import json, sys
    from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers
    out, corpus = sys.argv[1:3]
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=420, show_progress=False, special_tokens=["<s>", "</s>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train([corpus], trainer)
    tok.save(out + "/tokenizer.json")
    json.dump({"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>"},
              open(out + "/tokenizer_config.json", "w"))
    print(tok.get_vocab_size())
    """#

  /// Runs `lm_eval` offline with the given arguments, then writes its results and samples to
  /// `<output>/summary.json`.
  static let harnessScript = #"""
    import glob, json, os, sys
    for key in ("HF_DATASETS_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "DISABLE_MULTIPROC"):
        os.environ[key] = "1"
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    out = sys.argv[1]
    sys.argv = ["lm_eval"] + sys.argv[2:] + ["--output_path", out + "/harness"]
    from lm_eval.__main__ import cli_evaluate
    cli_evaluate()
    results = json.load(open(sorted(glob.glob(out + "/harness/**/results_*.json", recursive=True))[-1]))
    samples = {}
    for path in glob.glob(out + "/harness/**/samples_*.jsonl", recursive=True):
        task = os.path.basename(path)[len("samples_"):].rsplit("_", 1)[0]
        rows = []
        for line in open(path, encoding="utf-8"):
            s = json.loads(line)
            rows.append({
                "doc_id": s["doc_id"], "filter": s["filter"],
                "arguments": [[a for a in args.values() if isinstance(a, str)] for args in s["arguments"].values()],
                "resps": s["filtered_resps"], "raw": s["resps"],
                "scores": {k: s[k] for k in s["metrics"] if k in s},
            })
        samples[task] = sorted(rows, key=lambda r: r["doc_id"])
    json.dump({"results": results["results"], "samples": samples}, open(out + "/summary.json", "w"))
    """#

  /// Words and phrases the corpus, the questions and the texts are made of.
  static let words =
    "the a of and to in is you that it he was for on are as with his they at be this have from or one had by word but not what all were we when your can said there use an each which she do how their if will up other about out many then them these so some her would make like him into time has look two more write go see number no way could people my than first water been call who oil its now find long down day did get come made may part"
    .split(separator: " ").map(String.init)
  static let chinese = ["答案", "以下是中国关于", "的单项选择题", "请选出其中的正确答案", "水", "时间", "人们"]

  struct Generator {
    var state: UInt64
    mutating func next(_ bound: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((state >> 33) % UInt64(bound))
    }
    mutating func phrase(_ count: Int) -> String {
      (0..<count).map { _ in HarnessParityTests.words[next(HarnessParityTests.words.count)] }
        .joined(separator: " ")
    }
  }

  /// Builds the model directory, the data and the task files in `directory`.
  /// With `sentencepiece`, the model directory's tokenizer is a sentencepiece BPE model trained
  /// on the same corpus by MiniTokenize, written with its `tokenizer.json` and
  /// `tokenizer_config.json` as every MiniLLM model directory is.
  func prepare(in directory: String, python: PythonRunner, sentencepiece: Bool = false) throws
    -> String
  {
    var random = Generator(state: 11)
    let corpus =
      (0..<300).map { _ in random.phrase(10) + "." }.joined(separator: "\n") + "\n"
      + Self.chinese.joined(separator: " ") + " A B C D 0 1 2 3 4 5 6 7 8 9\n"
    let corpusPath = try write(corpus, "corpus.txt", in: directory)
    let modelDirectory = directory + "/model"
    try FileManager.default.createDirectory(
      atPath: modelDirectory, withIntermediateDirectories: true)
    if sentencepiece {
      var lines = corpus.split(separator: "\n").map(String.init).makeIterator()
      let tokenizer = try SentencePieceTokenizer.train(
        options: SentencePieceTrainingOptions(vocabularySize: 480)
      ) { lines.next() }
      let ids = tokenizer.specialIDs
      let config = LlamaConfig(
        vocabSize: tokenizer.vocabularySize, hiddenSize: 32, intermediateSize: 64, layerCount: 2,
        headCount: 4, kvHeadCount: 2, maxPositions: 96, bosTokenId: ids.bos,
        eosTokenIds: ids.eos.map { [$0] } ?? [], initializerRange: 0.2)
      try Llama(config: config, seed: 7).save(to: modelDirectory)
      try ModelDirectory(path: modelDirectory).writeTokenizerFiles(tokenizer, renderer: nil)
    } else {
      let scriptPath = try write(Self.tokenizerScript, "tokenizer.py", in: directory)
      let output = try python.run([scriptPath, modelDirectory, corpusPath]).get()
      let vocabulary = try #require(
        Int(
          String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)))
      let config = LlamaConfig(
        vocabSize: vocabulary, hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 4,
        kvHeadCount: 2, maxPositions: 96, bosTokenId: 0, eosTokenIds: [1], initializerRange: 0.2)
      try Llama(config: config, seed: 7).save(to: modelDirectory)
    }

    // C-Eval layout: val (evaluated) and dev (few-shot), answers as letters.
    let header = "id,question,A,B,C,D,answer\n"
    for (split, count) in [("val", 8), ("dev", 5)] {
      var rows = header
      for index in 0..<count {
        let question = random.phrase(4) + " " + Self.chinese[random.next(Self.chinese.count)]
        let choices = (0..<4).map { _ in random.phrase(1 + random.next(3)) }
        rows +=
          "\(index),\(question),\(choices.joined(separator: ",")),\("ABCD".map(String.init)[random.next(4)])\n"
      }
      try write(rows, "exam/\(split)/toy_\(split).csv", in: directory)
    }
    try write(
      """
      task: ceval_toy
      dataset_path: csv
      dataset_kwargs:
        data_files:
          val: \(directory)/exam/val/toy_val.csv
          dev: \(directory)/exam/dev/toy_dev.csv
      validation_split: val
      fewshot_split: dev
      fewshot_config:
        sampler: first_n
      output_type: multiple_choice
      description: "以下是中国关于toy的单项选择题，请选出其中的正确答案。\\n\\n"
      doc_to_text: "{{question.strip()}}\\nA. {{A}}\\nB. {{B}}\\nC. {{C}}\\nD. {{D}}\\n答案："
      doc_to_choice: ["A", "B", "C", "D"]
      doc_to_target: "{{['A', 'B', 'C', 'D'].index(answer)}}"
      metric_list:
        - metric: acc
        - metric: acc_norm
      metadata:
        version: 2.0

      """, "tasks/ceval_toy.yaml", in: directory)

    // JSON Lines multiple choice whose few-shot examples come from the evaluated split.
    var questions = ""
    for _ in 0..<10 {
      let count = 2 + random.next(3)
      let choices = (0..<count).map { _ in "\"" + random.phrase(1 + random.next(3)) + "\"" }
      questions +=
        "{\"question\": \"\(random.phrase(5))?\", \"choices\": [\(choices.joined(separator: ", "))], \"label\": \(random.next(count))}\n"
    }
    try write(questions, "data/questions.jsonl", in: directory)
    try write(
      """
      task: mc_toy
      dataset_path: json
      dataset_kwargs:
        data_files:
          test: \(directory)/data/questions.jsonl
      test_split: test
      fewshot_split: test
      output_type: multiple_choice
      doc_to_text: "Question: {{question}}\\nAnswer:"
      doc_to_choice: "{{choices}}"
      doc_to_target: label

      """, "tasks/mc_toy.yaml", in: directory)

    // Whole texts, some longer than the model's 96 positions.
    let texts = [
      random.phrase(8), random.phrase(70) + ".", random.phrase(150), "水 " + random.phrase(20),
    ]
    try write(
      texts.map { "{\"text\": \"\($0)\"}" }.joined(separator: "\n") + "\n", "data/texts.jsonl",
      in: directory)
    try write(
      """
      task: text_toy
      dataset_path: json
      dataset_kwargs:
        data_files:
          test: \(directory)/data/texts.jsonl
      test_split: test
      output_type: loglikelihood_rolling
      doc_to_text: ""
      doc_to_target: text
      metric_list:
        - metric: word_perplexity
        - metric: byte_perplexity
        - metric: bits_per_byte

      """, "tasks/text_toy.yaml", in: directory)

    // The log-likelihood of a target after a context ending in a new line (moved to the target),
    // and `perplexity` with its bootstrap standard error (in one process: `DISABLE_MULTIPROC`,
    // as forked workers hang beside PyTorch's threads).
    var pairs = ""
    for _ in 0..<6 {
      pairs += "{\"q\": \"\(random.phrase(5))\", \"a\": \"\(random.phrase(1 + random.next(3)))\"}\n"
    }
    try write(pairs, "data/pairs.jsonl", in: directory)
    try write(
      """
      task: ll_toy
      dataset_path: json
      dataset_kwargs:
        data_files:
          test: \(directory)/data/pairs.jsonl
      test_split: test
      output_type: loglikelihood
      doc_to_text: "Q: {{q}}\\n"
      doc_to_target: "A: {{a}}"
      metric_list:
        - metric: acc
        - metric: perplexity

      """, "tasks/ll_toy.yaml", in: directory)

    // Greedy answers cut at a new line, a regex filter, exact match.
    var prompts = ""
    for _ in 0..<5 {
      prompts +=
        "{\"q\": \"\(random.phrase(4))\", \"a\": \"\(Self.words[random.next(Self.words.count)])\"}\n"
    }
    try write(prompts, "data/prompts.jsonl", in: directory)
    try write(
      """
      task: gen_toy
      dataset_path: json
      dataset_kwargs:
        data_files:
          test: \(directory)/data/prompts.jsonl
      test_split: test
      output_type: generate_until
      doc_to_text: "Q: {{q}}\\nA:"
      doc_to_target: "{{a}}"
      generation_kwargs:
        until: ["\\n", "."]
        max_gen_toks: 8
        do_sample: false
      filter_list:
        - name: strict
          filter:
            - function: regex
              regex_pattern: "(\\\\w+)"
            - function: take_first
      metric_list:
        - metric: exact_match

      """, "tasks/gen_toy.yaml", in: directory)
    return modelDirectory
  }

  /// Runs the harness on `tasks` and returns its summary (results and samples per task).
  func harness(
    _ python: PythonRunner, model: String, tasks: [String], shots: Int, in directory: String
  ) throws -> [String: Any] {
    let script = try write(Self.harnessScript, "harness.py", in: directory)
    let output = directory + "/run-\(shots)"
    let result = python.run([
      script, output, "--model", "hf", "--model_args", "pretrained=\(model),dtype=float32",
      "--device", "cpu", "--include_path", directory + "/tasks", "--tasks",
      tasks.joined(separator: ","), "--num_fewshot", String(shots), "--log_samples",
    ])
    if case .failure(let failure) = result { Issue.record("lm_eval: \(failure.reason)") }
    _ = try result.get()
    let data = try #require(FileManager.default.contents(atPath: output + "/summary.json"))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  static func number(_ value: Any?) -> Double? {
    if let value = value as? Double { return value }
    if let value = value as? String { return Double(value) }
    if let value = value as? NSNumber { return value.doubleValue }
    return nil
  }

  static func close(_ a: Double, _ b: Double, relative: Double = 1e-4) -> Bool {
    abs(a - b) <= relative * max(abs(a), abs(b), 1e-12)
  }

  /// Compares one of our task results with the harness's samples and metrics of `name`.
  func compare(_ ours: TaskResult, name: String, summary: [String: Any]) throws {
    let samples = try #require((summary["samples"] as? [String: Any])?[name] as? [[String: Any]])
    let results = try #require((summary["results"] as? [String: Any])?[name] as? [String: Any])
    #expect(samples.count == ours.samples.count, "\(name): document count")
    for (theirs, sample) in zip(samples, ours.samples) {
      #expect(theirs["doc_id"] as? Int == sample.documentID)
      let arguments = try #require(theirs["arguments"] as? [[String]])
      let responses = try #require(theirs["resps"] as? [Any])
      switch ours.config.outputType {
      case .multipleChoice, .loglikelihood:
        #expect(arguments == sample.arguments, "\(name) doc \(sample.documentID): prompts")
        for (response, mine) in zip(responses, sample.responses) {
          let pair = try #require(response as? [Any])
          guard case .loglikelihood(let score) = mine, let theirLL = Self.number(pair[0]) else {
            Issue.record("\(name): response \(response)")
            continue
          }
          #expect(
            Self.close(score.logLikelihood, theirLL),
            "\(name) doc \(sample.documentID): \(score.logLikelihood) vs \(theirLL)")
        }
        let scores = try #require(theirs["scores"] as? [String: Any])
        for metric in ["acc", "acc_norm"] where scores[metric] != nil {
          #expect(Self.number(scores[metric]) == sample.scores[metric], "\(name) \(metric)")
        }
      case .loglikelihoodRolling:
        guard case .rolling(let mine) = sample.responses.first,
          let theirLL = Self.number(responses.first)
        else {
          Issue.record("\(name): responses \(responses)")
          continue
        }
        #expect(
          Self.close(mine, theirLL), "\(name) doc \(sample.documentID): \(mine) vs \(theirLL)")
      case .generateUntil:
        #expect(arguments.first?.first == sample.arguments.first?.first)
        let text = (responses.first as? String) ?? ""
        #expect(
          sample.filtered["strict"] == text,
          "\(name) doc \(sample.documentID): we generated \(sample.responses), lm_eval \(theirs["raw"] ?? "")"
        )
      }
    }
    for metric in ours.metrics {
      let theirs = try #require(Self.number(results[metric.key]), "\(name): no \(metric.key)")
      // Perplexities exponentiate the log-likelihoods' differences: 1e-4 relative; the rest 1e-6.
      let tolerance = metric.name.hasSuffix("perplexity") ? 1e-4 : 1e-6
      #expect(Self.close(metric.value, theirs, relative: tolerance), "\(name) \(metric.key)")
      if let error = metric.standardError {
        let theirError = Self.number(results["\(metric.name)_stderr,\(metric.filter)"])
        #expect(
          theirError.map { Self.close(error, $0, relative: tolerance) } == true,
          "\(name) \(metric.name) stderr \(error) vs \(theirError ?? .nan)")
      }
    }
  }

  @Test(
    "zero-shot multiple choice, rolling log-likelihood and generation",
    .requires(.python("lm_eval", "tokenizers", "transformers", "torch")))
  func zeroShot() throws {
    let python = try PythonRunner.requirePeers(importing: Self.modules)
    let directory = try temporaryDirectory()
    let modelDirectory = try prepare(in: directory, python: python)
    let names = ["ceval_toy", "mc_toy", "text_toy", "gen_toy", "ll_toy"]
    let summary = try harness(
      python, model: modelDirectory, tasks: names, shots: 0, in: directory)
    let model = try EvalModel(directory: modelDirectory)
    let options = EvalOptions(numFewshot: 0, keepSamples: true)
    for name in names {
      let task = try EvalTask(contentsOf: directory + "/tasks/\(name).yaml")
      try compare(
        try Evaluator.run(task, model: model, options: options), name: name, summary: summary)
    }
    // The built-in C-Eval reader gives the same prompts as the task file.
    let builtin = try #require(try BuiltinBenchmark.ceval.tasks(in: directory + "/exam").first)
    var result = try Evaluator.run(builtin, model: model, options: options)
    result.config.task = "ceval_toy"
    try compare(result, name: "ceval_toy", summary: summary)
  }

  @Test(
    "a sentencepiece model directory: every task, zero-shot, in one lm_eval run",
    .requires(.python("lm_eval", "transformers", "torch")))
  func sentencepieceDirectory() throws {
    let python = try PythonRunner.requirePeers(importing: ["lm_eval", "transformers", "torch"])
    let directory = try temporaryDirectory()
    let modelDirectory = try prepare(in: directory, python: python, sentencepiece: true)
    let names = ["ceval_toy", "mc_toy", "text_toy", "gen_toy", "ll_toy"]
    let summary = try harness(
      python, model: modelDirectory, tasks: names, shots: 0, in: directory)
    let model = try EvalModel(directory: modelDirectory)
    let options = EvalOptions(numFewshot: 0, keepSamples: true)
    for name in names {
      let task = try EvalTask(contentsOf: directory + "/tasks/\(name).yaml")
      try compare(
        try Evaluator.run(task, model: model, options: options), name: name, summary: summary)
    }
  }

  @Test(
    "few-shot multiple choice: first_n from dev, seeded samples from the evaluated split",
    .requires(.python("lm_eval", "tokenizers", "transformers", "torch")))
  func fewShot() throws {
    let python = try PythonRunner.requirePeers(importing: Self.modules)
    let directory = try temporaryDirectory()
    let modelDirectory = try prepare(in: directory, python: python)
    let names = ["ceval_toy", "mc_toy"]
    let summary = try harness(
      python, model: modelDirectory, tasks: names, shots: 2, in: directory)
    let model = try EvalModel(directory: modelDirectory)
    let options = EvalOptions(numFewshot: 2, keepSamples: true)
    for name in names {
      let task = try EvalTask(contentsOf: directory + "/tasks/\(name).yaml")
      try compare(
        try Evaluator.run(task, model: model, options: options), name: name, summary: summary)
    }
  }
}

@Suite("Bootstrap standard error against the harness")
struct BootstrapParityTests {
  static let script = #"""
    import json, os, sys
    os.environ["DISABLE_MULTIPROC"] = "1"
    from lm_eval.api import metrics
    items = json.loads(sys.argv[1])
    for n in sys.argv[2:]:
        print("stderr", repr(metrics.bootstrap_stderr(metrics.perplexity, items, iters=int(n))))
    """#

  @Test(
    "perplexity's bootstrap_stderr is the harness's to the last bit",
    .requires(.python("lm_eval")))
  func perplexityBootstrap() throws {
    let python = try PythonRunner.requirePeers(importing: ["lm_eval"])
    var state: UInt64 = 3
    let items = (0..<37).map { _ -> Double in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return -Double(state >> 11) / Double(1 << 53) * 12
    }
    // Swift's description of a Double is the shortest text that reads back as it.
    let text = "[" + items.map { "\($0)" }.joined(separator: ", ") + "]"
    let iterations = [100_000, 2500, 300]
    let output = try python.run(["-c", Self.script, text] + iterations.map(String.init)).get()
    // repr() and Double(_:) both give the nearest double: the printed figures are exact.
    let theirs = String(decoding: output, as: UTF8.self).split(separator: "\n")
      .filter { $0.hasPrefix("stderr ") }.map { Double($0.dropFirst(7)) }
    let ours = iterations.map {
      EvalMetrics.bootstrapStandardError(EvalMetrics.perplexity, items, iterations: $0)
    }
    #expect(ours == theirs, "ours \(ours), lm_eval \(theirs)")
    #expect(EvalMetrics.bootstrapStandardError(EvalMetrics.perplexity, [-1.5]) == nil)
  }
}

@Suite("Built-in exams against the harness's task files")
struct BuiltinExamTaskTests {
  static let script = #"""
    import glob, json, os, yaml, lm_eval
    root = os.path.join(os.path.dirname(lm_eval.__file__), "tasks")
    out = {}
    for kind, pattern in (("ceval", "ceval/ceval-valid_*.yaml"), ("cmmlu", "cmmlu/cmmlu_*.yaml"),
                          ("mmlu", "mmlu/default/mmlu_*.yaml")):
        for path in sorted(glob.glob(os.path.join(root, pattern))):
            d = yaml.safe_load(open(path, encoding="utf-8"))
            if "dataset_name" in d:
                out.setdefault(kind, {})[d["dataset_name"]] = [
                    d["task"], d["description"], d.get("tag", "")]
    print(json.dumps(out))
    """#

  @Test(
    "names and describes every subject as the harness does",
    .requires(.python("lm_eval", "yaml")))
  func descriptions() throws {
    let python = try PythonRunner.requirePeers(importing: ["lm_eval", "yaml"])
    let output = try python.run(["-c", Self.script]).get()
    let object = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    for benchmark in BuiltinBenchmark.allCases {
      let subjects = try #require(object[benchmark.rawValue] as? [String: [String]])
      #expect(subjects.count > 40, "\(benchmark): \(subjects.count) subjects")
      for (subject, expected) in subjects {
        let config = benchmark.taskConfig(subject: subject, split: "test")
        #expect(config.task == expected[0])
        #expect(config.description == expected[1], "\(benchmark) \(subject)")
        if benchmark == .mmlu {
          let tag = BuiltinBenchmark.mmluCategory(of: subject).map { "mmlu_\($0)_tasks" }
          #expect(tag == expected[2], "mmlu \(subject)")
        }
      }
    }
  }
}
