import Foundation

/// How a task is run.
public struct EvalOptions: Sendable {
  /// Few-shot examples per prompt (default: the task's `num_fewshot`, else 0).
  public var numFewshot: Int?
  /// Evaluate only the first `limit` documents.
  public var limit: Int?
  /// The seed of the few-shot sampler (the harness's `fewshot_random_seed`, 1234).
  public var fewshotSeed = 1234
  /// Keep each document's prompt, responses and scores in the result.
  public var keepSamples = false
  /// Resamples of the bootstrap standard error of `perplexity` (the harness's
  /// `bootstrap_iters`, 100000); 0 reports no standard error for any metric, as in the harness.
  public var bootstrapIterations = 100_000

  public init(
    numFewshot: Int? = nil, limit: Int? = nil, fewshotSeed: Int = 1234, keepSamples: Bool = false,
    bootstrapIterations: Int = 100_000
  ) {
    self.numFewshot = numFewshot
    self.limit = limit
    self.fewshotSeed = fewshotSeed
    self.keepSamples = keepSamples
    self.bootstrapIterations = bootstrapIterations
  }
}

/// One aggregated metric of a task or group, keyed as the harness keys it (`acc,none`).
public struct MetricValue: Sendable, Equatable {
  public var name: String
  /// The filter the responses went through (`none` for log-likelihood metrics).
  public var filter: String
  public var value: Double
  /// The standard error, where the harness computes one (in closed form, or by bootstrap for
  /// `perplexity`).
  public var standardError: Double?
  public var higherIsBetter: Bool

  public var key: String { "\(name),\(filter)" }
}

/// A model's response to one request.
public enum EvalResponse: Sendable, Equatable {
  case loglikelihood(ContinuationScore)
  case rolling(Double)
  case text(String)
}

/// One evaluated document, as the harness logs samples.
public struct EvalSample: Sendable {
  public var documentID: Int
  public var document: TaskDocument
  /// The target as text (the gold choice's text for multiple choice).
  public var target: String
  /// Each request's arguments: (context, continuation) pairs, a text, or (context, until).
  public var arguments: [[String]]
  public var responses: [EvalResponse]
  /// Filtered responses per filter name (generation tasks).
  public var filtered: [String: String]
  /// The per-document scores (`acc`, `acc_norm`, `exact_match,<filter>`, log-likelihood pairs
  /// as the log-likelihood).
  public var scores: [String: Double]
}

/// The outcome of one task.
public struct TaskResult: Sendable {
  public var task: String
  public var config: TaskConfig
  public var numFewshot: Int
  public var documentCount: Int
  public var metrics: [MetricValue]
  public var samples: [EvalSample]
  public var seconds: Double
}

/// Runs tasks on a model and scores them as lm-evaluation-harness does.
public enum Evaluator {
  /// Evaluates `task` on `model`.
  /// - Parameter progress: called after each document with (done, total).
  /// - Throws: `EvalError` naming the document at fault (a bad template, an answer outside the
  ///   choices, a few-shot split too small).
  public static func run(
    _ task: EvalTask, model: EvalModel, options: EvalOptions = EvalOptions(),
    progress: (Int, Int) -> Void = { _, _ in }
  ) throws -> TaskResult {
    let start = Date()
    let config = task.config
    let columns = Set(task.documents.first?.fields.map(\.0) ?? [])
    let prompter = try TaskPrompter(config: config, columns: columns, origin: task.origin)
    let shots = options.numFewshot ?? config.numFewshot ?? 0
    var sampler = FewshotSampler(
      pool: task.fewshotDocuments, kind: config.fewshotSampler,
      poolIsEvaluatedSplit: task.fewshotIsEvaluatedSplit, seed: options.fewshotSeed)
    let documents = Array(task.documents.prefix(options.limit ?? task.documents.count))
    let metrics = config.effectiveMetrics
    let wanted = Set(metrics.map(\.name))
    var perDocument: [String: [Double]] = [:]
    var weighted: [String: [(logLikelihood: Double, weight: Int)]] = [:]
    var samples: [EvalSample] = []
    for (index, document) in documents.enumerated() {
      var sample = EvalSample(
        documentID: index, document: document, target: "", arguments: [], responses: [],
        filtered: [:], scores: [:])
      switch config.outputType {
      case .multipleChoice:
        let examples = try sampler.examples(for: document, count: shots)
        let context = try prompter.context(document, examples: examples)
        let choices = try prompter.choices(document)
        let gold = try prompter.goldIndex(document, choices: choices)
        guard gold >= 0 else {
          throw EvalError(
            file: document.origin, at: "key doc_to_target",
            "the target is not one of the choices \(choices)")
        }
        let continuations = choices.map { config.targetDelimiter + $0 }
        let scores = try model.score(context: context, continuations: continuations)
        let logLikelihoods = scores.map(\.logLikelihood)
        let (acc, accNorm) = EvalMetrics.multipleChoice(
          logLikelihoods: logLikelihoods, choices: choices, gold: gold)
        let byteNormalized = zip(logLikelihoods, choices).map { $0 / Double($1.utf8.count) }
        let accBytes: Double = EvalMetrics.argmax(byteNormalized) == gold ? 1 : 0
        sample.target = choices[gold]
        sample.arguments = continuations.map { [context, $0] }
        sample.responses = scores.map(EvalResponse.loglikelihood)
        sample.scores = ["acc": acc, "acc_norm": accNorm, "acc_bytes": accBytes]
      case .loglikelihood:
        let examples = try sampler.examples(for: document, count: shots)
        let context = try prompter.context(document, examples: examples)
        let target = try prompter.targetText(document)
        let score = try model.score(context: context, continuations: [target])[0]
        sample.target = target
        sample.arguments = [[context, target]]
        sample.responses = [.loglikelihood(score)]
        sample.scores = ["perplexity": score.logLikelihood, "acc": score.isGreedy ? 1 : 0]
      case .loglikelihoodRolling:
        let text = try prompter.targetText(document)
        let logLikelihood = try model.rollingLogLikelihood(text)
        let words = EvalMetrics.wordCount(text)
        let bytes = text.utf8.count
        sample.target = text
        sample.arguments = [[text]]
        sample.responses = [.rolling(logLikelihood)]
        sample.scores = ["log_likelihood": logLikelihood]
        weighted["word_perplexity", default: []].append((logLikelihood, words))
        weighted["byte_perplexity", default: []].append((logLikelihood, bytes))
        weighted["bits_per_byte", default: []].append((logLikelihood, bytes))
      case .generateUntil:
        let examples = try sampler.examples(for: document, count: shots)
        let context = try prompter.context(document, examples: examples)
        let answer = try model.generate(
          context: context, until: config.until ?? [], maxTokens: config.maxGenerationTokens)
        let gold: String
        if config.docToChoice != nil {
          let choices = try prompter.choices(document)
          let index = try prompter.goldIndex(document, choices: choices)
          guard index >= 0 else {
            throw EvalError(
              file: document.origin, at: "key doc_to_target", "the target is not one of the choices"
            )
          }
          gold = choices[index]
        } else {
          gold = try prompter.targetText(document)
        }
        sample.target = gold
        sample.arguments = [[context] + (config.until ?? [])]
        sample.responses = [.text(answer)]
        for filter in config.effectiveFilters {
          let filtered = EvalMetrics.apply(filter, to: answer)
          sample.filtered[filter.name] = filtered
          for metric in metrics where metric.name == "exact_match" {
            let score = EvalMetrics.exactMatch(
              prediction: filtered, reference: gold, metric: metric)
            sample.scores["exact_match,\(filter.name)"] = score
            perDocument["exact_match,\(filter.name)", default: []].append(score)
          }
        }
      }
      if config.outputType != .generateUntil && config.outputType != .loglikelihoodRolling {
        for name in wanted {
          if let score = sample.scores[name] { perDocument[name, default: []].append(score) }
        }
      }
      if options.keepSamples { samples.append(sample) }
      progress(index + 1, documents.count)
    }
    var values: [MetricValue] = []
    for metric in metrics {
      switch metric.name {
      case "word_perplexity", "byte_perplexity", "bits_per_byte":
        guard let items = weighted[metric.name] else { continue }
        let value =
          metric.name == "bits_per_byte"
          ? EvalMetrics.bitsPerByte(items) : EvalMetrics.weightedPerplexity(items)
        values.append(
          MetricValue(
            name: metric.name, filter: "none", value: value, standardError: nil,
            higherIsBetter: false))
      case "perplexity":
        guard let items = perDocument["perplexity"] else { continue }
        values.append(
          MetricValue(
            name: "perplexity", filter: "none", value: EvalMetrics.perplexity(items),
            standardError: EvalMetrics.bootstrapStandardError(
              EvalMetrics.perplexity, items, iterations: options.bootstrapIterations),
            higherIsBetter: false))
      case "exact_match":
        for filter in config.effectiveFilters {
          guard let items = perDocument["exact_match,\(filter.name)"] else { continue }
          values.append(
            MetricValue(
              name: "exact_match", filter: filter.name, value: EvalMetrics.mean(items),
              standardError: EvalMetrics.meanStandardError(items), higherIsBetter: true))
        }
      default:
        guard let items = perDocument[metric.name] else { continue }
        values.append(
          MetricValue(
            name: metric.name, filter: "none", value: EvalMetrics.mean(items),
            standardError: EvalMetrics.meanStandardError(items), higherIsBetter: true))
      }
    }
    // `bootstrap_iters` 0: the harness computes no standard error at all.
    if options.bootstrapIterations == 0 {
      for index in values.indices { values[index].standardError = nil }
    }
    return TaskResult(
      task: config.task, config: config, numFewshot: shots, documentCount: documents.count,
      metrics: values, samples: samples, seconds: Date().timeIntervalSince(start))
  }
}

/// Subtasks reported together (the subjects of C-Eval or MMLU): each metric the size-weighted
/// mean of the subtasks', its standard error pooled (`pooled_sample_stderr`). MMLU's subjects are
/// also reported by category, as the harness does.
public struct GroupResult: Sendable {
  public var name: String
  public var subtasks: [TaskResult]

  public init(name: String, subtasks: [TaskResult]) {
    self.name = name
    self.subtasks = subtasks
  }

  /// The group's metrics, for the metrics every subtask reports.
  public var metrics: [MetricValue] {
    Self.pooled(subtasks.map { ($0.metrics, $0.documentCount) })
  }

  /// The documents of all subtasks.
  public var documentCount: Int { subtasks.reduce(0) { $0 + $1.documentCount } }

  /// Size-weighted means and pooled standard errors of the metrics every member reports
  /// (`members`: each member's metrics and its number of documents).
  static func pooled(_ members: [(metrics: [MetricValue], size: Int)]) -> [MetricValue] {
    guard let first = members.first else { return [] }
    return first.metrics.compactMap { metric in
      let matching = members.compactMap { member in member.metrics.first { $0.key == metric.key } }
      guard matching.count == members.count else { return nil }
      let sizes = members.map(\.size)
      let value = EvalMetrics.pooledMean(matching.map(\.value), sizes: sizes)
      let errors = matching.compactMap(\.standardError)
      let error =
        errors.count == matching.count && sizes.reduce(0, +) > sizes.count
        ? EvalMetrics.pooledStandardError(errors, sizes: sizes) : nil
      return MetricValue(
        name: metric.name, filter: metric.filter, value: value, standardError: error,
        higherIsBetter: metric.higherIsBetter)
    }
  }

  /// MMLU's categories (`mmlu_stem`, `mmlu_other`, `mmlu_social_sciences`, `mmlu_humanities`)
  /// with the subjects of this group that belong to them, as lm-evaluation-harness nests them
  /// inside `mmlu`; empty for any other group.
  public var categories: [GroupResult] {
    guard name == BuiltinBenchmark.mmlu.groupName else { return [] }
    return BuiltinBenchmark.mmluCategoryOrder.compactMap { category in
      let members = subtasks.filter { task in
        task.task.hasPrefix("mmlu_")
          && BuiltinBenchmark.mmluCategories[String(task.task.dropFirst(5))] == category
      }
      return members.isEmpty ? nil : GroupResult(name: "mmlu_\(category)", subtasks: members)
    }
  }

  /// The metrics reported for the group: pooled over its categories when it has them (as the
  /// harness aggregates `mmlu` from its category groups), over its subtasks otherwise.
  public var reportedMetrics: [MetricValue] {
    let categories = categories
    let categorized = Set(categories.flatMap { $0.subtasks.map(\.task) })
    guard !categories.isEmpty else { return metrics }
    let rest = subtasks.filter { !categorized.contains($0.task) }
    return Self.pooled(
      categories.map { ($0.metrics, $0.documentCount) }
        + rest.map { ($0.metrics, $0.documentCount) })
  }
}
