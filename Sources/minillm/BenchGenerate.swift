import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor

struct GenerateBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "generate",
    abstract: "Prefill and decode tokens/s at batch 1 through Llama.generate.",
    discussion: """
      Random prompt ids, greedy decoding with no stop token. Prefill is the time from the call
      to the first new token (one batched forward of the prompt); decode is the time per token
      after it. Each figure is the median over --repeats runs.
      """)

  @Option(
    help:
      "Model preset with random weights (\(LlamaConfig.Preset.allCases.map(\.rawValue).joined(separator: ", ")))."
  )
  var preset: LlamaConfig.Preset?

  @Option(help: "Model directory (config.json + model.safetensors) instead of a preset.")
  var model: String?

  @Option(help: "Prompt length in tokens.")
  var promptTokens: Int = 128

  @Option(help: "New tokens per run.")
  var newTokens: Int = 128

  @Option(help: "Runs; the figures are medians.")
  var repeats: Int = 3

  @Flag(help: "Decode with q8_0 weights (int8 blocks of 32 with one scale each).")
  var q8 = false

  @OptionGroup var threadOptions: ThreadOptions

  func run() throws {
    try threadOptions.apply()
    guard promptTokens >= 1, newTokens >= 2, repeats >= 1 else {
      throw CommandLineError("--prompt-tokens must be ≥ 1, --new-tokens ≥ 2, --repeats ≥ 1")
    }
    let llama: Llama
    let name: String
    switch (preset, model) {
    case (let preset?, nil):
      var config = LlamaConfig.preset(preset)
      config.maxPositions = max(config.maxPositions, promptTokens + newTokens)
      llama = Llama(config: config, seed: 0)
      name = preset.rawValue
    case (nil, let path?):
      llama = try loadModel(path)
      name = path
    default:
      throw CommandLineError("give exactly one of --preset and --model")
    }
    let config = llama.config
    guard promptTokens + newTokens <= config.maxPositions else {
      throw CommandLineError(
        "--prompt-tokens + --new-tokens = \(promptTokens + newTokens) exceeds max_position_embeddings \(config.maxPositions)"
      )
    }
    let runner = q8 ? llama.quantized() : llama
    let probe = LoadProbe()
    let (prefillRates, decodeRates, output) = GenerationBenchmark(
      model: runner, promptTokens: promptTokens, newTokens: newTokens
    ).run(repeats: repeats)
    let foreign = probe.foreignCores()
    let prefill = BenchClock.summary(prefillRates)
    let decode = BenchClock.summary(decodeRates)
    let weightBytes = Double(runner.decodeWeightBytes)
    let peakRSS = BenchClock.peakRSSMegabytes()
    print(
      "model \(name): \(config.parameterCount) parameters, weights \(q8 ? "q8_0" : "f32"), threads \(threadCount())"
    )
    printComputeEnvironment()
    print(
      String(
        format: "prefill  %.1f tokens/s median (min %.1f, max %.1f), %d-token prompt",
        prefill.median, prefill.min, prefill.max, promptTokens))
    print(
      String(
        format: "decode   %.1f tokens/s median (min %.1f, max %.1f), %d new tokens", decode.median,
        decode.min, decode.max, output.count))
    print(
      String(
        format: "         %.1f MB of weights read per token → %.1f GB/s", weightBytes * 1e-6,
        weightBytes * decode.median * 1e-9))
    print(
      String(
        format: "peak RSS %.0f MiB;  other processes used %.2f cores meanwhile", peakRSS, foreign))
    try printJSONLine([
      "benchmark": "generate", "model": name, "weights": q8 ? "q8_0" : "f32",
      "threads": threadCount(), "prompt_tokens": promptTokens, "new_tokens": output.count,
      "repeats": repeats, "prefill_tokens_per_s": rounded(prefill.median, 1),
      "prefill_tokens_per_s_min": rounded(prefill.min, 1),
      "prefill_tokens_per_s_max": rounded(prefill.max, 1),
      "decode_tokens_per_s": rounded(decode.median, 1),
      "decode_tokens_per_s_min": rounded(decode.min, 1),
      "decode_tokens_per_s_max": rounded(decode.max, 1),
      "weight_bytes_per_token": Int(weightBytes), "peak_rss_mb": rounded(peakRSS, 1),
      "foreign_cores": rounded(foreign, 2),
    ])
  }
}
