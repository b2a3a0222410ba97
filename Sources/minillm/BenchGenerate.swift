import ArgumentParser
import Foundation
import MiniLlama

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
    let report = GenerationBenchmark(
      model: q8 ? llama.quantized() : llama, promptTokens: promptTokens, newTokens: newTokens
    ).report(name: name, repeats: repeats, blasCore: BLASCore.description)
    for line in report.lines { print(line) }
    try printJSON(report.json)
  }
}
