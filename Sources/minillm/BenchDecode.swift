import ArgumentParser
import Foundation
import MiniLlama

struct DecodeBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "decode",
    abstract: "Tokens/s of batched decoding (Llama.decodeStep) at several batch sizes.",
    discussion: """
      Each sequence is a random prompt of --prompt-tokens ids prefilled into its own KV cache; \
      then --new-tokens decoding steps run over the whole batch, each sequence fed back its \
      greedy token. Tokens/s counts every sequence's tokens over the steps' time (the prefills \
      are not timed), as a server's continuous batching decodes them; the figure is the \
      median over --repeats runs. CPU ms/token is the process's CPU time over the steps per \
      token: on a busy machine it moves less than the wall-clock rate (with --threads 1 it is \
      the work itself; spinning worker threads add to it otherwise).
      """)

  @Option(help: "Model directory or .gguf file.")
  var model: String

  @Option(help: "Batch sizes to measure, comma-separated.")
  var batch: String = "1,4,16"

  @Option(help: "Prompt length in tokens.")
  var promptTokens: Int = 32

  @Option(help: "Decoding steps per run.")
  var newTokens: Int = 64

  @Option(help: "Runs; the figures are medians.")
  var repeats: Int = 3

  @Option(
    help: ArgumentHelp(
      "Key/value cache: f16 (llama.cpp's, the default for a GGUF file) or f32 (the default for a "
        + "directory).", valueName: "f16|f32"))
  var kvCache: String?

  @OptionGroup var threadOptions: ThreadOptions

  func run() throws {
    try threadOptions.apply()
    let precision = try kvCache.map { value in
      guard let precision = KVCache.Precision(rawValue: value) else {
        throw CommandLineError("--kv-cache: expected f16 or f32, got '\(value)'")
      }
      return precision
    }
    let sizes = batch.split(separator: ",").compactMap {
      Int($0.trimmingCharacters(in: .whitespaces))
    }
    guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 1 }) else {
      throw CommandLineError("--batch: give batch sizes ≥ 1, comma-separated (e.g. 1,4,16)")
    }
    guard promptTokens >= 1, newTokens >= 1, repeats >= 1 else {
      throw CommandLineError("--prompt-tokens, --new-tokens and --repeats must be ≥ 1")
    }
    let llama = try loadModel(model)
    let config = llama.config
    guard promptTokens + newTokens <= config.maxPositions else {
      throw CommandLineError(
        "--prompt-tokens + --new-tokens = \(promptTokens + newTokens) exceeds max_position_embeddings \(config.maxPositions)"
      )
    }
    var generator = SystemRandomNumberGenerator()
    var rows: [[String: Any]] = []
    var single: Double?
    for size in sizes {
      var rates: [Double] = []
      var cpuPerToken: [Double] = []
      for _ in 0..<repeats {
        let caches = (0..<size).map { _ in
          precision.map {
            KVCache(config: config, capacity: promptTokens + newTokens, precision: $0)
          } ?? llama.makeCache(capacity: promptTokens + newTokens)
        }
        var tokens = caches.map { cache -> Int32 in
          let prompt = (0..<promptTokens).map { _ in
            Int32.random(in: 0..<Int32(config.vocabSize), using: &generator)
          }
          return Int32(argmax(llama.prefill(prompt, cache: cache)))
        }
        let start = DispatchTime.now().uptimeNanoseconds
        let cpuStart = processCPUSeconds()
        for _ in 0..<newTokens {
          let logits = llama.decodeStep(tokens, caches: caches)
          tokens = (0..<size).map { Int32(argmax(logits[row: $0].scalars)) }
        }
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        rates.append(Double(size * newTokens) / seconds)
        cpuPerToken.append((processCPUSeconds() - cpuStart) / Double(size * newTokens))
      }
      let rate = rates.sorted()[rates.count / 2]
      let cpu = cpuPerToken.sorted()[cpuPerToken.count / 2]
      if size == sizes[0] { single = rate / Double(size) }
      let ratio = single.map { rate / $0 } ?? 1
      print(
        String(
          format:
            "batch %3d: %9.1f tokens/s  %7.2f ms/step  ×%.2f one sequence  %6.3f CPU ms/token",
          size, rate, 1000 * Double(size) / rate, ratio, 1000 * cpu))
      rows.append([
        "batch": size, "tokens_per_second": rate, "ms_per_step": 1000 * Double(size) / rate,
        "ratio": ratio, "cpu_ms_per_token": 1000 * cpu,
      ])
    }
    try printBenchJSON([
      "benchmark": "decode", "model": model, "prompt_tokens": promptTokens,
      "new_tokens": newTokens, "batches": rows,
    ])
  }

  /// CPU time of every thread of the process so far (what a loaded machine does not inflate).
  private func processCPUSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
  }

  private func argmax(_ row: [Float]) -> Int {
    var best = 0
    for i in row.indices where row[i] > row[best] { best = i }
    return best
  }
}
