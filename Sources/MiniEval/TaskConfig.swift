import Foundation
import Yams

/// What a task asks of the model (lm-evaluation-harness's `output_type`).
public enum TaskOutputType: String, Sendable, Codable {
  /// The log-likelihood of each choice after the prompt; the best is the answer.
  case multipleChoice = "multiple_choice"
  /// The log-likelihood of the target after the prompt.
  case loglikelihood
  /// The log-likelihood of whole documents, in windows of the model's context.
  case loglikelihoodRolling = "loglikelihood_rolling"
  /// A greedy answer cut at stop sequences, compared with the target.
  case generateUntil = "generate_until"
}

/// A template field (`doc_to_text`, `doc_to_choice`, `doc_to_target`): a Jinja template (a
/// field name is the template that prints that field), a fixed list, or an index.
public enum TaskTemplate: Sendable, Equatable {
  /// A Jinja template, or the name of a document field.
  case template(String)
  /// A fixed list (`doc_to_choice: ["A", "B", "C", "D"]`).
  case list([String])
  /// A fixed index (`doc_to_target: 0`).
  case index(Int)
}

/// One step of a `filter_list` pipeline.
public enum TaskFilterStep: Sendable, Equatable {
  /// `function: regex`: the `groupSelect`-th match of `pattern` (its first non-empty group when
  /// it has groups), stripped; `fallback` when nothing matches.
  case regex(pattern: String, groupSelect: Int, fallback: String)
  /// `function: take_first`: the first response (the only one with greedy decoding).
  case takeFirst
  /// `function: lowercase` / `uppercase`.
  case lowercase
  case uppercase
  /// `function: remove_whitespace`: leading white space removed.
  case removeWhitespace
}

/// A named filter pipeline; its metrics are reported as `metric,name`.
public struct TaskFilter: Sendable, Equatable {
  public var name: String
  public var steps: [TaskFilterStep]

  /// A filter called `name` applying `steps` in order.
  public init(name: String, steps: [TaskFilterStep]) {
    self.name = name
    self.steps = steps
  }
}

/// A metric of `metric_list`, with the options `exact_match` takes.
public struct TaskMetric: Sendable, Equatable {
  public var name: String
  public var ignoreCase = false
  public var ignorePunctuation = false
  public var regexesToIgnore: [String] = []

  /// The metric `name` with default options.
  public init(name: String) { self.name = name }
}

/// An lm-evaluation-harness task YAML file reading local data: the keys MiniEval understands,
/// validated when read, with errors naming the file and key.
public struct TaskConfig: Sendable {
  public var task: String
  public var datasetFormat: TaskDataReader.Format
  /// `dataset_kwargs.data_files`: split name → files.
  public var dataFiles: [String: [String]]
  public var testSplit: String?
  public var validationSplit: String?
  public var trainingSplit: String?
  public var fewshotSplit: String?
  public var outputType: TaskOutputType
  public var docToText: TaskTemplate
  public var docToChoice: TaskTemplate?
  public var docToTarget: TaskTemplate
  public var description = ""
  public var targetDelimiter = " "
  public var fewshotDelimiter = "\n\n"
  public var numFewshot: Int?
  /// `fewshot_config.sampler`: `default` (random by seed) or `first_n`.
  public var fewshotSampler = "default"
  /// `generation_kwargs.until`.
  public var until: [String]?
  /// `generation_kwargs.max_gen_toks` (the harness's default is 256).
  public var maxGenerationTokens = 256
  public var filters: [TaskFilter] = []
  public var metrics: [TaskMetric] = []
  /// `metadata.version`.
  public var version: Double = 1

  /// A task with the given data and templates; the other settings at the harness's defaults.
  public init(
    task: String, datasetFormat: TaskDataReader.Format, dataFiles: [String: [String]],
    testSplit: String?, outputType: TaskOutputType, docToText: TaskTemplate,
    docToChoice: TaskTemplate?, docToTarget: TaskTemplate
  ) {
    self.task = task
    self.datasetFormat = datasetFormat
    self.dataFiles = dataFiles
    self.testSplit = testSplit
    self.outputType = outputType
    self.docToText = docToText
    self.docToChoice = docToChoice
    self.docToTarget = docToTarget
  }

  /// The metrics reported when `metric_list` is absent, as the harness chooses them.
  public var effectiveMetrics: [TaskMetric] {
    if !metrics.isEmpty { return metrics }
    switch outputType {
    case .multipleChoice: return [TaskMetric(name: "acc"), TaskMetric(name: "acc_norm")]
    case .loglikelihood: return [TaskMetric(name: "perplexity"), TaskMetric(name: "acc")]
    case .loglikelihoodRolling:
      return ["word_perplexity", "byte_perplexity", "bits_per_byte"].map(TaskMetric.init)
    case .generateUntil: return [TaskMetric(name: "exact_match")]
    }
  }

  /// The filters applied to generations (`none`, taking the first response, when none are set).
  public var effectiveFilters: [TaskFilter] {
    filters.isEmpty ? [TaskFilter(name: "none", steps: [.takeFirst])] : filters
  }
}

extension TaskConfig {
  /// The keys of a task file that MiniEval reads; `group`, `tag` and a few informative keys are
  /// accepted and ignored.
  static let knownKeys: Set<String> = [
    "task", "dataset_path", "dataset_name", "dataset_kwargs", "test_split", "validation_split",
    "training_split", "fewshot_split", "output_type", "doc_to_text", "doc_to_choice",
    "doc_to_target", "description", "target_delimiter", "fewshot_delimiter", "num_fewshot",
    "fewshot_config", "generation_kwargs", "filter_list", "metric_list", "metadata", "include",
    "group", "tag", "task_alias", "group_alias", "should_decontaminate", "repeats",
  ]

  /// The split → files mapping of `dataset_kwargs.data_files`; relative paths from the current
  /// folder, else the task file's folder.
  private static func localDataFiles(_ mapping: [String: YAMLEntry], path: String) throws
    -> [String: [String]]
  {
    guard let kwargs = mapping["dataset_kwargs"] else {
      throw EvalError(
        file: path, at: "key dataset_kwargs", "missing: local data needs dataset_kwargs.data_files")
    }
    let kwargsMap = try kwargs.mapping("dataset_kwargs")
    guard let filesEntry = kwargsMap["data_files"] else {
      throw EvalError(file: kwargs.file, at: "key dataset_kwargs.data_files", "missing")
    }
    var files: [String: [String]] = [:]
    let folder = URL(fileURLWithPath: filesEntry.file).deletingLastPathComponent().path
    func resolve(_ file: String) -> String {
      if file.hasPrefix("/") || FileManager.default.fileExists(atPath: file) { return file }
      let beside = folder + "/" + file
      return FileManager.default.fileExists(atPath: beside) ? beside : file
    }
    switch filesEntry.node {
    case .scalar, .sequence:
      files["train"] = try filesEntry.strings("dataset_kwargs.data_files").map(resolve)
    case .mapping:
      for (split, entry) in try filesEntry.mapping("dataset_kwargs.data_files") {
        files[split] = try entry.strings("dataset_kwargs.data_files.\(split)").map(resolve)
      }
    default:
      throw EvalError(
        file: filesEntry.file, at: "key dataset_kwargs.data_files", "expected a path or a mapping")
    }
    return files
  }

  /// Keys whose values the harness runs as Python.
  static let pythonHookKeys: Set<String> = ["process_docs", "process_results", "custom_dataset"]

  /// The key path (`metric_list[0].aggregation`) of the first `!function` value in `node`.
  static func functionLocation(_ node: Node, at path: String) -> String? {
    if node.tag.description.contains("function") { return path }
    switch node {
    case .mapping(let mapping):
      for (key, value) in mapping {
        if let found = functionLocation(value, at: path + "." + (key.string ?? "?")) {
          return found
        }
      }
    case .sequence(let sequence):
      for (index, value) in sequence.enumerated() {
        if let found = functionLocation(value, at: "\(path)[\(index)]") { return found }
      }
    default: break
    }
    return nil
  }

  /// Reads a task YAML file (following `include:` of a base file, relative to it). Relative
  /// `data_files` are resolved against the current folder, as the harness does, else the task
  /// file's folder.
  /// - Throws: `EvalError` naming the file and key: unknown keys, `!function` values (Python
  ///   code), a `dataset_path` other than `json`/`csv`, missing splits, values of the wrong type.
  public init(contentsOf path: String) throws {
    let mapping = try Self.mapping(contentsOf: path, depth: 0)
    try self.init(mapping: mapping, path: path)
  }

  private static func mapping(contentsOf path: String, depth: Int) throws -> [String: YAMLEntry] {
    guard depth < 8 else {
      throw EvalError(file: path, at: "key include", "includes nest too deep")
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw EvalError(file: path, "cannot be read (missing or not a file)")
    }
    let node: Node?
    do {
      node = try Yams.compose(yaml: String(decoding: data, as: UTF8.self))
    } catch {
      throw EvalError(file: path, "not valid YAML: \(error)")
    }
    guard let node, case .mapping(let mapping) = node else {
      throw EvalError(file: path, "expected a YAML mapping of task keys")
    }
    var entries: [String: YAMLEntry] = [:]
    for (key, value) in mapping {
      guard let name = key.string else {
        throw EvalError(file: path, at: "line \(key.mark?.line ?? 0)", "a key is not a string")
      }
      entries[name] = YAMLEntry(node: value, file: path)
    }
    if let include = entries["include"] {
      let name = try include.string("include")
      let base =
        name.hasPrefix("/")
        ? name
        : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(name).path
      var merged = try Self.mapping(contentsOf: base, depth: depth + 1)
      for (key, value) in entries where key != "include" { merged[key] = value }
      return merged
    }
    return entries
  }

  private init(mapping: [String: YAMLEntry], path: String) throws {
    for (key, entry) in mapping.sorted(by: { $0.key < $1.key }) {
      if let location = Self.functionLocation(entry.node, at: key) {
        throw EvalError(
          file: entry.file, at: "key \(location)",
          "!function names Python code, which MiniEval cannot run (write the value as a column name or a Jinja template)"
        )
      }
      if Self.pythonHookKeys.contains(key) {
        throw EvalError(
          file: entry.file, at: "key \(key)",
          "a Python hook of the harness, which MiniEval cannot run (prepare the data files instead)"
        )
      }
      guard Self.knownKeys.contains(key) else {
        throw EvalError(
          file: entry.file, at: "key \(key)",
          "not a task key MiniEval reads (known: \(Self.knownKeys.sorted().joined(separator: ", ")))"
        )
      }
    }
    func required(_ key: String) throws -> YAMLEntry {
      guard let entry = mapping[key] else {
        throw EvalError(file: path, at: "key \(key)", "missing")
      }
      return entry
    }
    let task = try required("task").string("task")
    let formatName = try required("dataset_path").string("dataset_path")
    var datasetName: String?
    if let name = mapping["dataset_name"], case .scalar(let scalar) = name.node,
      scalar.string != "null", !scalar.string.isEmpty
    {
      datasetName = scalar.string
    }
    let format: TaskDataReader.Format
    let files: [String: [String]]
    if let local = TaskDataReader.Format(rawValue: formatName) {
      if datasetName != nil, let name = mapping["dataset_name"] {
        throw EvalError(
          file: name.file, at: "key dataset_name",
          "a configuration name belongs to a hub data set, not to local \(formatName) files")
      }
      format = local
      files = try Self.localDataFiles(mapping, path: path)
    } else {
      format = .parquet
      files = try HubDataCache.files(
        dataset: formatName, configuration: datasetName, origin: mapping["dataset_path"]!.file)
    }
    let outputName = try mapping["output_type"]?.string("output_type") ?? "generate_until"
    guard let outputType = TaskOutputType(rawValue: outputName) else {
      throw EvalError(
        file: mapping["output_type"]!.file, at: "key output_type",
        "\"\(outputName)\": expected multiple_choice, loglikelihood, loglikelihood_rolling or generate_until"
      )
    }
    func template(_ key: String) throws -> TaskTemplate? {
      guard let entry = mapping[key] else { return nil }
      switch entry.node {
      case .sequence: return .list(try entry.strings(key))
      case .scalar(let scalar):
        if scalar.style == .plain, let index = Int(scalar.string) { return .index(index) }
        return .template(scalar.string)
      default: throw EvalError(file: entry.file, at: "key \(key)", "expected a template or a list")
      }
    }
    self.init(
      task: task, datasetFormat: format, dataFiles: files,
      testSplit: try mapping["test_split"]?.optionalString("test_split"),
      outputType: outputType,
      docToText: try template("doc_to_text") ?? .template(""),
      docToChoice: try template("doc_to_choice"),
      docToTarget: try template("doc_to_target") ?? .template(""))
    validationSplit = try mapping["validation_split"]?.optionalString("validation_split")
    trainingSplit = try mapping["training_split"]?.optionalString("training_split")
    fewshotSplit = try mapping["fewshot_split"]?.optionalString("fewshot_split")
    for (key, split) in [
      ("test_split", testSplit), ("validation_split", validationSplit),
      ("training_split", trainingSplit), ("fewshot_split", fewshotSplit),
    ] {
      if let split, files[split] == nil {
        throw EvalError(
          file: mapping[key]!.file, at: "key \(key)",
          "split \"\(split)\" has no files in dataset_kwargs.data_files (has: \(files.keys.sorted().joined(separator: ", ")))"
        )
      }
    }
    if testSplit == nil && validationSplit == nil {
      throw EvalError(file: path, at: "key test_split", "missing (and no validation_split)")
    }
    if outputType == .multipleChoice && docToChoice == nil {
      throw EvalError(file: path, at: "key doc_to_choice", "missing: multiple_choice needs choices")
    }
    description = try mapping["description"]?.string("description") ?? ""
    targetDelimiter = try mapping["target_delimiter"]?.string("target_delimiter") ?? " "
    fewshotDelimiter = try mapping["fewshot_delimiter"]?.string("fewshot_delimiter") ?? "\n\n"
    numFewshot = try mapping["num_fewshot"]?.int("num_fewshot")
    if let config = mapping["fewshot_config"] {
      let members = try config.mapping("fewshot_config")
      if let sampler = members["sampler"] {
        fewshotSampler = try sampler.string("fewshot_config.sampler")
        guard ["default", "first_n"].contains(fewshotSampler) else {
          throw EvalError(
            file: sampler.file, at: "key fewshot_config.sampler",
            "\"\(fewshotSampler)\": expected default or first_n")
        }
      }
    }
    if let generation = mapping["generation_kwargs"] {
      for (key, entry) in try generation.mapping("generation_kwargs") {
        switch key {
        case "until": until = try entry.strings("generation_kwargs.until")
        case "max_gen_toks": maxGenerationTokens = try entry.int("generation_kwargs.max_gen_toks")
        case "do_sample":
          if try entry.bool("generation_kwargs.do_sample") {
            throw EvalError(
              file: entry.file, at: "key generation_kwargs.do_sample",
              "sampling is not supported: answers are greedy")
          }
        case "temperature", "top_p", "top_k", "num_beams":
          continue
        default:
          throw EvalError(
            file: entry.file, at: "key generation_kwargs.\(key)",
            "not read (known: until, max_gen_toks, do_sample, temperature)")
        }
      }
    }
    if let list = mapping["filter_list"] {
      filters = try list.sequence("filter_list").enumerated().map { index, entry in
        let key = "filter_list[\(index)]"
        let members = try entry.mapping(key)
        let name = try members["name"]?.string("\(key).name") ?? "none"
        guard let stepsEntry = members["filter"] else {
          throw EvalError(file: entry.file, at: "key \(key).filter", "missing")
        }
        let steps = try stepsEntry.sequence("\(key).filter").enumerated().map {
          stepIndex, step in
          try Self.filterStep(step, key: "\(key).filter[\(stepIndex)]")
        }
        return TaskFilter(name: name, steps: steps)
      }
    }
    if let list = mapping["metric_list"] {
      metrics = try list.sequence("metric_list").enumerated().map { index, entry in
        let key = "metric_list[\(index)]"
        let members = try entry.mapping(key)
        guard let name = members["metric"] else {
          throw EvalError(file: entry.file, at: "key \(key).metric", "missing")
        }
        var metric = TaskMetric(name: try name.string("\(key).metric"))
        let supported: Set<String> = [
          "acc", "acc_norm", "acc_bytes", "exact_match", "perplexity", "word_perplexity",
          "byte_perplexity",
          "bits_per_byte",
        ]
        guard supported.contains(metric.name) else {
          throw EvalError(
            file: name.file, at: "key \(key).metric",
            "\"\(metric.name)\" is not computed (known: \(supported.sorted().joined(separator: ", ")))"
          )
        }
        metric.ignoreCase = try members["ignore_case"]?.bool("\(key).ignore_case") ?? false
        metric.ignorePunctuation =
          try members["ignore_punctuation"]?.bool("\(key).ignore_punctuation") ?? false
        metric.regexesToIgnore =
          try members["regexes_to_ignore"]?.strings("\(key).regexes_to_ignore") ?? []
        return metric
      }
    }
    if let metadata = mapping["metadata"], let version = try metadata.mapping("metadata")["version"]
    {
      guard case .scalar(let scalar) = version.node, let value = Double(scalar.string) else {
        throw EvalError(file: version.file, at: "key metadata.version", "expected a number")
      }
      self.version = value
    }
  }

  private static func filterStep(_ entry: YAMLEntry, key: String) throws -> TaskFilterStep {
    let members = try entry.mapping(key)
    guard let function = members["function"] else {
      throw EvalError(file: entry.file, at: "key \(key).function", "missing")
    }
    switch try function.string("\(key).function") {
    case "regex":
      let pattern =
        try members["regex_pattern"]?.string("\(key).regex_pattern") ?? #"#### (\-?[0-9\.\,]+)"#
      do {
        _ = try NSRegularExpression(pattern: pattern)
      } catch {
        throw EvalError(
          file: entry.file, at: "key \(key).regex_pattern", "not a valid regular expression")
      }
      return .regex(
        pattern: pattern, groupSelect: try members["group_select"]?.int("\(key).group_select") ?? 0,
        fallback: try members["fallback"]?.string("\(key).fallback") ?? "[invalid]")
    case "take_first": return .takeFirst
    case "lowercase": return .lowercase
    case "uppercase": return .uppercase
    case "remove_whitespace": return .removeWhitespace
    case let other:
      throw EvalError(
        file: function.file, at: "key \(key).function",
        "\"\(other)\" is not supported (known: regex, take_first, lowercase, uppercase, remove_whitespace)"
      )
    }
  }
}

/// A YAML value and the file it came from, with typed accessors throwing errors that name the key.
struct YAMLEntry {
  var node: Node
  var file: String

  private func failure(_ key: String, _ expected: String) -> EvalError {
    EvalError(file: file, at: "key \(key)", "expected \(expected)")
  }

  func string(_ key: String) throws -> String {
    guard case .scalar(let scalar) = node else { throw failure(key, "a string") }
    return scalar.string
  }

  func optionalString(_ key: String) throws -> String? {
    guard case .scalar(let scalar) = node else { throw failure(key, "a string") }
    if scalar.style == .plain && ["null", "~", ""].contains(scalar.string) { return nil }
    return scalar.string
  }

  func int(_ key: String) throws -> Int {
    guard case .scalar(let scalar) = node, let value = Int(scalar.string) else {
      throw failure(key, "an integer")
    }
    return value
  }

  func bool(_ key: String) throws -> Bool {
    guard case .scalar(let scalar) = node else { throw failure(key, "true or false") }
    switch scalar.string.lowercased() {
    case "true", "yes": return true
    case "false", "no": return false
    default: throw failure(key, "true or false")
    }
  }

  func strings(_ key: String) throws -> [String] {
    switch node {
    case .scalar(let scalar): return [scalar.string]
    case .sequence(let items):
      return try items.map { item in
        guard case .scalar(let scalar) = item else { throw failure(key, "a list of strings") }
        return scalar.string
      }
    default: throw failure(key, "a string or a list of strings")
    }
  }

  func sequence(_ key: String) throws -> [YAMLEntry] {
    guard case .sequence(let items) = node else { throw failure(key, "a list") }
    return items.map { YAMLEntry(node: $0, file: file) }
  }

  func mapping(_ key: String) throws -> [String: YAMLEntry] {
    guard case .mapping(let members) = node else { throw failure(key, "a mapping") }
    var result: [String: YAMLEntry] = [:]
    for (name, value) in members {
      guard let text = name.string else { throw failure(key, "string keys") }
      result[text] = YAMLEntry(node: value, file: file)
    }
    return result
  }
}
