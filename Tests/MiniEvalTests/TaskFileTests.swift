import Foundation
import MiniEval
import TestSupport
import Testing

@Suite("Task files")
struct TaskFileTests {
  static let questions = """
    {"question": "is it a", "choices": ["yes", "no"], "label": 0}
    {"question": "is it b", "choices": ["yes", "no"], "label": 1}
    {"question": "is it c", "choices": ["maybe", "no", "yes"], "label": 2}

    """

  func taskFile(_ body: String, in directory: String) throws -> String {
    try write(Self.questions, "data/questions.jsonl", in: directory)
    return try write(body, "task.yaml", in: directory)
  }

  static let base = """
    task: toy
    dataset_path: json
    dataset_kwargs:
      data_files:
        test: data/questions.jsonl
    test_split: test
    output_type: multiple_choice
    doc_to_text: "Question: {{question.strip()}}\\nAnswer:"
    doc_to_choice: "{{choices}}"
    doc_to_target: label

    """

  @Test func readsTheKeysOfATaskFile() throws {
    let directory = try temporaryDirectory()
    let path = try taskFile(
      Self.base + """
        fewshot_split: test
        num_fewshot: 2
        target_delimiter: "  "
        fewshot_delimiter: "\\n###\\n"
        generation_kwargs:
          until: ["\\n", "."]
          max_gen_toks: 9
        filter_list:
          - name: strict
            filter:
              - function: regex
                regex_pattern: "(\\\\d+)"
                group_select: -1
              - function: take_first
        metric_list:
          - metric: acc
          - metric: exact_match
            ignore_case: true
        metadata:
          version: 2.5

        """, in: directory)
    let config = try TaskConfig(contentsOf: path)
    #expect(config.task == "toy")
    #expect(config.datasetFormat == .json)
    #expect(config.dataFiles["test"] == [directory + "/data/questions.jsonl"])
    #expect(config.outputType == .multipleChoice)
    #expect(config.docToChoice == .template("{{choices}}"))
    #expect(config.docToTarget == .template("label"))
    #expect(config.numFewshot == 2)
    #expect(config.targetDelimiter == "  ")
    #expect(config.fewshotDelimiter == "\n###\n")
    #expect(config.until == ["\n", "."])
    #expect(config.maxGenerationTokens == 9)
    #expect(
      config.filters == [
        TaskFilter(
          name: "strict",
          steps: [.regex(pattern: #"(\d+)"#, groupSelect: -1, fallback: "[invalid]"), .takeFirst])
      ])
    #expect(config.metrics.map(\.name) == ["acc", "exact_match"])
    #expect(config.metrics[1].ignoreCase)
    #expect(config.version == 2.5)
  }

  @Test(arguments: [
    ("colour: red\n", "key colour"),
    ("process_docs: !function utils.process\n", "key process_docs"),
    ("process_docs: utils.process\n", "key process_docs"),
    (
      "metric_list:\n  - metric: acc\n    aggregation: !function utils.agg\n",
      "key metric_list[0].aggregation"
    ),
    ("fewshot_split: train\n", "key fewshot_split"),
    ("metric_list:\n  - metric: bleu\n", "key metric_list[0].metric"),
  ])
  func badKeysAreNamed(extra: String, location: String) throws {
    let directory = try temporaryDirectory()
    let path = try taskFile(Self.base + extra, in: directory)
    let error = try #require(throws: EvalError.self) { try TaskConfig(contentsOf: path) }
    #expect(error.file == path)
    #expect(error.location == location)
  }

  @Test func uncachedHubDataSetsAreNamed() throws {
    let directory = try temporaryDirectory()
    let path = try taskFile(
      Self.base.replacingOccurrences(
        of: "dataset_path: json", with: "dataset_path: minieval-tests/never-downloaded"),
      in: directory)
    let error = try #require(throws: EvalError.self) { try TaskConfig(contentsOf: path) }
    #expect(error.file == path)
    #expect(error.location == "key dataset_path")
    #expect(error.message.contains("\"minieval-tests/never-downloaded\""))
  }

  @Test func hubDataSetsComeFromTheCacheOrAnErrorNamesThem() throws {
    let root = try temporaryDirectory()
    let snapshot = root + "/datasets--acme--exam/snapshots/abc123"
    for file in [
      "mini/test-00000-of-00001.parquet", "mini/dev-00000-of-00001.parquet",
      "other/test-00000-of-00001.parquet", "converted/val/0000.parquet",
    ] {
      try write("", file, in: snapshot)
    }
    try write("abc123\n", "refs/main", in: root + "/datasets--acme--exam")
    let files = try HubDataCache.files(
      dataset: "acme/exam", configuration: "mini", origin: "t.yaml", root: root)
    #expect(
      files == [
        "test": [snapshot + "/mini/test-00000-of-00001.parquet"],
        "dev": [snapshot + "/mini/dev-00000-of-00001.parquet"],
      ])
    let converted = try HubDataCache.files(
      dataset: "acme/exam", configuration: "converted", origin: "t.yaml", root: root)
    #expect(converted == ["val": [snapshot + "/converted/val/0000.parquet"]])
    let missing = try #require(throws: EvalError.self) {
      try HubDataCache.files(dataset: "acme/none", configuration: nil, origin: "t.yaml", root: root)
    }
    #expect(missing.file == "t.yaml" && missing.location == "key dataset_path")
    #expect(missing.message.contains("\"acme/none\" is not in the Hugging Face cache"))
    let noConfiguration = try #require(throws: EvalError.self) {
      try HubDataCache.files(
        dataset: "acme/exam", configuration: "absent", origin: "t.yaml", root: root)
    }
    #expect(noConfiguration.message.contains("configuration \"absent\""))
  }

  /// Writes a CSV file's table as Parquet with pyarrow (snappy-compressed, two row groups).
  static let parquetScript = """
    import sys, pyarrow.csv, pyarrow.parquet
    table = pyarrow.csv.read_csv(sys.argv[1])
    pyarrow.parquet.write_table(table, sys.argv[2], row_group_size=2, compression="snappy")
    """

  @Test(.requires(.python("pyarrow")))
  func parquetFilesReadAsTheirCSV() throws {
    let python = try PythonRunner.requirePeers(importing: ["pyarrow"])
    let directory = try temporaryDirectory()
    let csv = try write(
      "id,question,A,B,C,D,answer\n0,水是什么？,液体,石头,火,风,A\n1,\"1, 2, 3\",一,二,三,四,C\n2,问,甲,乙,丙,丁,D\n",
      "exam.csv", in: directory)
    _ = try python.run(["-c", Self.parquetScript, csv, directory + "/exam.parquet"]).get()
    let fromCSV = try TaskDataReader.read([csv], format: .csv)
    let fromParquet = try TaskDataReader.read([directory + "/exam.parquet"], format: .parquet)
    #expect(fromParquet.count == 3)
    #expect(fromParquet == fromCSV)
    let task = try write(
      """
      task: pq
      dataset_path: parquet
      dataset_kwargs:
        data_files:
          test: \(directory)/exam.parquet
      test_split: test
      output_type: multiple_choice
      doc_to_text: "{{question}}"
      doc_to_choice: ["A", "B", "C", "D"]
      doc_to_target: "{{['A', 'B', 'C', 'D'].index(answer)}}"

      """, "pq.yaml", in: directory)
    #expect(try EvalTask(contentsOf: task).documents == fromCSV)
    // A file that is not Parquet is named.
    let bad = try write("not parquet", "bad.parquet", in: directory)
    let error = try #require(throws: EvalError.self) {
      try TaskDataReader.read([bad], format: .parquet)
    }
    #expect(error.file == bad)
  }

  @Test func includeMergesTheBaseFile() throws {
    let directory = try temporaryDirectory()
    try taskFile(Self.base, in: directory)
    let path = try write(
      "include: task.yaml\ntask: derived\ndescription: \"Answer.\\n\\n\"\n", "derived.yaml",
      in: directory)
    let config = try TaskConfig(contentsOf: path)
    #expect(config.task == "derived")
    #expect(config.description == "Answer.\n\n")
    #expect(config.docToTarget == .template("label"))
  }

  @Test func promptsFollowTheHarnessLayout() throws {
    let directory = try temporaryDirectory()
    let task = try EvalTask(
      contentsOf: try taskFile(Self.base + "description: \"Quiz.\\n\\n\"\n", in: directory))
    let prompter = try TaskPrompter(
      config: task.config, columns: ["question", "choices", "label"], origin: "task.yaml")
    let documents = task.documents
    #expect(try prompter.choices(documents[2]) == ["maybe", "no", "yes"])
    #expect(try prompter.goldIndex(documents[2], choices: prompter.choices(documents[2])) == 2)
    let context = try prompter.context(documents[2], examples: [documents[0], documents[1]])
    #expect(
      context
        == "Quiz.\n\nQuestion: is it a\nAnswer: yes\n\nQuestion: is it b\nAnswer: no\n\n"
        + "Question: is it c\nAnswer:")
  }

  @Test func samplingFromTheEvaluatedSplitLeavesTheDocumentOut() throws {
    let documents = (0..<6).map {
      TaskDocument(fields: [("n", .int($0))], origin: "row \($0)")
    }
    var sampler = FewshotSampler(
      pool: documents, kind: "default", poolIsEvaluatedSplit: true, seed: 1234)
    var again = FewshotSampler(
      pool: documents, kind: "default", poolIsEvaluatedSplit: true, seed: 1234)
    for document in documents {
      let examples = try sampler.examples(for: document, count: 3)
      #expect(examples.count == 3)
      #expect(!examples.contains(document))
      #expect(Set(examples.map(\.origin)).count == 3)
      #expect(try again.examples(for: document, count: 3) == examples)
    }
    var first = FewshotSampler(
      pool: documents, kind: "first_n", poolIsEvaluatedSplit: false, seed: 1)
    #expect(try first.examples(for: documents[0], count: 2) == Array(documents.prefix(2)))
  }

  @Test func examRowsAreChecked() throws {
    let directory = try temporaryDirectory()
    let header = "id,question,A,B,C,D,answer\n"
    try write(header + "0,q one,a,b,c,d,B\n", "exam/dev/toy_dev.csv", in: directory)
    let path = try write(
      header + "0,q one,a,b,c,d,A\n1,\"q, two\",a,b,c,d,E\n", "exam/val/toy_val.csv", in: directory)
    let error = try #require(throws: EvalError.self) {
      try BuiltinBenchmark.ceval.tasks(in: directory + "/exam")
    }
    #expect(error.file == path)
    #expect(error.location == "row 3")
    try write(header + "0,q one,a,,c,d,A\n", "exam/val/toy_val.csv", in: directory)
    let empty = try #require(throws: EvalError.self) {
      try BuiltinBenchmark.ceval.tasks(in: directory + "/exam")
    }
    #expect(empty.file == path && empty.location == "row 2")
    #expect(empty.message.contains("choice B is empty"))
    try write("id,question,A,B,C,D\n0,q,a,b,c,d\n", "exam/val/toy_val.csv", in: directory)
    let missing = try #require(throws: EvalError.self) {
      try BuiltinBenchmark.ceval.tasks(in: directory + "/exam")
    }
    #expect(missing.file == path && missing.location == "row 1")
    #expect(missing.message.contains("answer"))
    // A row short of a column is named by its line.
    try write(header + "0,q,a,b,c,d,A\n1,q,a,b,c,d\n", "exam/val/toy_val.csv", in: directory)
    let short = try #require(throws: EvalError.self) {
      try BuiltinBenchmark.ceval.tasks(in: directory + "/exam")
    }
    #expect(short.file == path && short.location == "row 3")
    #expect(short.message.contains("6 cells, expected 7"))
  }

  @Test func mmluAndCmmluLayoutsAreRead() throws {
    let directory = try temporaryDirectory()
    try write(
      "q one,a,b,c,d,C\n\"q, two\",a,b,c,d,A\n", "mmlu/test/high_school_physics_test.csv",
      in: directory)
    try write("q dev,a,b,c,d,D\n", "mmlu/dev/high_school_physics_dev.csv", in: directory)
    let mmlu = try #require(try BuiltinBenchmark.mmlu.tasks(in: directory + "/mmlu").first)
    #expect(mmlu.config.task == "mmlu_high_school_physics")
    #expect(mmlu.documents.count == 2)
    #expect(mmlu.documents[1]["question"] == .string("q, two"))
    #expect(mmlu.documents[0]["answer"] == .string("C"))
    #expect(mmlu.fewshotDocuments.count == 1)
    let header = ",Question,A,B,C,D,Answer\n"
    try write(header + "0,问题,甲,乙,丙,丁,B\n", "cmmlu/test/agronomy.csv", in: directory)
    try write(header + "0,例题,甲,乙,丙,丁,A\n", "cmmlu/dev/agronomy.csv", in: directory)
    let cmmlu = try #require(try BuiltinBenchmark.cmmlu.tasks(in: directory + "/cmmlu").first)
    #expect(cmmlu.config.task == "cmmlu_agronomy")
    #expect(cmmlu.config.description.contains("农学"))
    #expect(cmmlu.documents[0]["question"] == .string("问题"))
    #expect(cmmlu.documents[0]["id"] == .int(0))
    let prompter = try TaskPrompter(
      config: cmmlu.config, columns: Set(cmmlu.documents[0].fields.map(\.0)), origin: "cmmlu")
    #expect(
      try prompter.context(cmmlu.documents[0], examples: cmmlu.fewshotDocuments)
        == cmmlu.config.description + "例题\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案： A\n\n"
        + "问题\nA. 甲\nB. 乙\nC. 丙\nD. 丁\n答案：")
  }
}
