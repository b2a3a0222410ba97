import ArgumentParser
import Foundation
import MiniEval
import MiniLlama
import MiniTokenize
import MiniTrain

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Benchmarks scored as lm-evaluation-harness scores them, or loss on token shards.",
    discussion: """
      With --task: runs lm-evaluation-harness task files (local json/csv data), ceval:DIR, cmmlu:DIR or
      mmlu:DIR, prints the harness's results table (also written to --table, Markdown or HTML) and
      writes its results JSON to --output. When --model is the model/ folder of a training run (or
      --adapter its adapter/ folder), each task's or group's results JSON is also kept as
      RUN/eval/NAME.json, which `minillm report --run RUN` shows.
      With --data: the shards are cut into windows of --seq-len + 1 tokens (consecutive windows
      share one token, so every token after the first is predicted once); prints loss,
      perplexity and tokens, then one JSON line.
      """)

  @Option(help: "Model directory.")
  var model: String

  @OptionGroup var adapter: AdapterFlag

  @Option(
    name: .customLong("task"),
    help: "A task YAML file, ceval:DIR, cmmlu:DIR or mmlu:DIR (repeatable).")
  var tasks: [String] = []

  @Option(help: "Few-shot examples per prompt (default: the task's num_fewshot, else 0).")
  var numFewshot: Int?

  @Option(help: "Evaluate the first N documents of each task.")
  var limit: Int?

  @Flag(help: "Keep every document's prompt, responses and scores in the results JSON.")
  var logSamples = false

  @Option(help: "Seed of the few-shot sampler (the harness's fewshot_random_seed).")
  var seed = 1234

  @Option(
    name: .customLong("bootstrap-iters"),
    help:
      "Resamples of the bootstrap standard error of perplexity (the harness's bootstrap_iters; 0: no standard errors)."
  )
  var bootstrapIterations = 100_000

  @Option(help: "Results JSON written with --task.")
  var output: String?

  @Option(
    help:
      "Write the results table here too: HTML for a .html/.htm name, else Markdown (repeatable).")
  var table: [String] = []

  @Option(help: "Token shard folder made by `minillm data pretrain`.")
  var data: String?

  @Option(help: "Tokens per window (default: the model's max_position_embeddings, at most 1024).")
  var seqLen: Int?

  @Option(help: "Windows per forward pass.")
  var batchSize = 8

  @Option(help: "Evaluate at most this many windows (default: all).")
  var maxWindows: Int?

  @OptionGroup var threads: ThreadOptions

  func validate() throws {
    if tasks.isEmpty == (data == nil) {
      throw ValidationError("give either --task (benchmarks) or --data (token shards)")
    }
    if let seqLen, seqLen <= 0 { throw ValidationError("--seq-len: must be > 0") }
    guard batchSize > 0 else { throw ValidationError("--batch-size: must be > 0") }
    if let maxWindows, maxWindows <= 0 { throw ValidationError("--max-windows: must be > 0") }
    if let numFewshot, numFewshot < 0 { throw ValidationError("--num-fewshot: must be >= 0") }
    if let limit, limit <= 0 { throw ValidationError("--limit: must be > 0") }
    if bootstrapIterations < 0 { throw ValidationError("--bootstrap-iters: must be >= 0") }
    if !table.isEmpty, tasks.isEmpty { throw ValidationError("--table: goes with --task") }
  }

  func run() throws {
    try threads.apply()
    if let data {
      try runShards(data)
    } else {
      try runTasks()
    }
  }

  private func runTasks() throws {
    let llama = try adapter.model(model)
    let evalModel = try flagged("--model") { try EvalModel(model: llama, directory: model) }
    let options = EvalOptions(
      numFewshot: numFewshot, limit: limit, fewshotSeed: seed, keepSamples: logSamples,
      bootstrapIterations: bootstrapIterations)
    var settings = ["model": model, "fewshot_seed": String(seed)]
    if let limit { settings["limit"] = String(limit) }
    if let path = adapter.adapter { settings["adapter"] = path }
    let status = StatusLine(terminalInterval: 0.25)
    let report = try flagged("--task") {
      try EvalSuite.run(
        model: evalModel, specifications: tasks, options: options, settings: settings
      ) { task, done, total in
        guard status.isDue(at: status.elapsed, always: done == total) else { return }
        status.show("[eval] \(task) \(done)/\(total)")
        if done == total { status.finish() }
      }
    }
    print(report.markdownTable)
    let documents = report.groups.flatMap(\.subtasks).reduce(0) { $0 + $1.documentCount }
    let seconds = report.groups.flatMap(\.subtasks).reduce(0) { $0 + $1.seconds }
    print(
      String(
        format: "%d documents in %.2f s (%.2f documents/s)", documents, seconds,
        Double(documents) / max(seconds, 1e-9)))
    if let output {
      try flagged("--output") { try report.write(to: output) }
      print("results: \(output)")
    }
    for path in table {
      try flagged("--table") { try report.writeTable(to: path) }
      print("table: \(path)")
    }
    try keepInRun(report)
  }

  /// Writes each group's results JSON to RUN/eval/NAME.json when the evaluated model is a
  /// training run's final model (or, with --adapter, a LoRA run's final adapters).
  private func keepInRun(_ report: EvalReport) throws {
    let run: RunDirectory?
    if let path = adapter.adapter {
      run = RunDirectory.owning(adapter: path)
    } else {
      run = RunDirectory.owning(model: model)
    }
    guard let run else { return }
    for group in report.groups {
      let path = run.evaluationResultsPath(for: group.name)
      do {
        try FileManager.default.createDirectory(
          atPath: run.evaluationPath, withIntermediateDirectories: true)
        try EvalReport(groups: [group], settings: report.settings).write(to: path)
      } catch {
        throw CommandLineError("\(path): cannot keep the results in the run: \(error)")
      }
      print("run results: \(path)")
    }
  }

  private func runShards(_ data: String) throws {
    let llama = try adapter.model(model)
    let windows = try TokenWindows.evaluation(
      of: data, for: llama.config, modelPath: model, sequenceLength: seqLen, limit: maxWindows,
      warn: printError)
    let (count, length) = (windows.count, windows.sequenceLength)
    let objective = CausalLanguageModelObjective(model: llama)
    let status = StatusLine(terminalInterval: 0.25)
    let (loss, tokens) = try objective.meanLoss(over: windows, count: count, batchSize: batchSize) {
      done, loss, tokens in
      let seconds = status.elapsed
      guard status.isDue(at: seconds, always: done == count) else { return }
      let remaining = seconds / Double(done) * Double(count - done)
      status.show(
        String(
          format: "[eval] %d/%d windows  loss %.4f  %.0f tok/s  ETA %@", done, count, loss,
          Double(tokens) / max(seconds, 1e-9), formattedDuration(remaining)))
      if done == count { status.finish() }
    }
    print(String(format: "loss %.6f", loss))
    print(String(format: "perplexity %.4f", exp(loss)))
    print("tokens \(tokens)")
    try printJSON([
      "loss": loss, "perplexity": exp(loss), "tokens": tokens, "windows": count,
      "seq_len": length,
    ])
  }
}
