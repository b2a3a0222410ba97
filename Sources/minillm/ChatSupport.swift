import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize

/// The sampling flags of `generate` and `chat`; unset flags take the model directory's
/// `generation_config.json` (or build_MiniLLM_from_scratch's defaults).
struct SamplingFlags: ParsableArguments {
  @Flag(help: "Always pick the most likely token.")
  var greedy = false

  @Option(
    help:
      "Sampling temperature (0: greedy, as llama.cpp's --temp 0). Default: generation_config.json, else 1 (0.8 for a GGUF file, as llama.cpp). Setting it above 0 (or --top-k, --top-p) samples even when the file says do_sample: false."
  )
  var temperature: Float?

  @Option(
    name: .customLong("top-k"),
    help:
      "Sample among the K most likely tokens (0: all). Default: generation_config.json, else 40.")
  var topK: Int?

  @Option(
    name: .customLong("top-p"),
    help:
      "Sample from the smallest set reaching this probability. Default: generation_config.json, else 0.8 (0.95 for a GGUF file)."
  )
  var topP: Float?

  @Option(
    name: .customLong("repetition-penalty"),
    help:
      "Penalty for tokens already present (1: off). Default: generation_config.json, else 1.1 (1 for a GGUF file, as llama.cpp)."
  )
  var repetitionPenalty: Float?

  @Option(help: "Seed of the sampler.")
  var seed: UInt64 = 0

  func validate() throws {
    if let temperature, !(temperature >= 0 && temperature.isFinite) {
      throw ValidationError("--temperature: must be ≥ 0 (0: greedy)")
    }
    if let topK, topK < 0 { throw ValidationError("--top-k: must be ≥ 0") }
    if let topP, !(topP > 0 && topP <= 1) { throw ValidationError("--top-p: must be in (0, 1]") }
    if let repetitionPenalty, !(repetitionPenalty > 0) {
      throw ValidationError("--repetition-penalty: must be > 0")
    }
  }

  /// `defaults` with the flags that were given applied.
  func options(defaults: SamplingOptions) -> SamplingOptions {
    var options = defaults
    if temperature != nil || topK != nil || topP != nil { options.greedy = false }
    if greedy || temperature == 0 { options.greedy = true }
    if let temperature, temperature > 0 { options.temperature = temperature }
    if let topK { options.topK = topK }
    if let topP { options.topP = topP }
    if let repetitionPenalty { options.repetitionPenalty = repetitionPenalty }
    options.seed = seed
    return options
  }
}

/// A chat session over `--model DIR` (with `--template` when given) and its defaults from
/// `generation_config.json`; errors name the flag and the file.
func loadChatSession(
  model path: String, template: String?, adapter: String? = nil
) throws -> ChatSession {
  let chosen = try flagged("--template") { try template.map { try ChatTemplate.named($0) } }
  return try flaggedModel(adapter: adapter) {
    try ChatSession(directory: path, template: chosen, adapter: adapter)
  }
}

/// Runs `body`, which loads `--model` with `--adapter`: an error about the adapter folder names
/// `--adapter`, any other `--model`.
func flaggedModel<T>(adapter: String?, _ body: () throws -> T) throws -> T {
  do {
    return try body()
  } catch {
    let flag = adapter != nil && "\(error)".contains("adapter") ? "--adapter" : "--model"
    throw CommandLineError("\(flag): \(error)")
  }
}

extension ChatSession {
  /// Applies `--max-new-tokens` and the sampling flags over the directory's defaults.
  func apply(maxNewTokens: Int?, sampling flags: SamplingFlags) throws {
    var options = self.options
    if let maxNewTokens {
      let context = model.config.maxPositions
      guard maxNewTokens >= 1 && maxNewTokens < context else {
        throw CommandLineError(
          "--max-new-tokens: must be in 1..<\(context) (the model's context leaves room for the prompt)"
        )
      }
      options.maxNewTokens = maxNewTokens
    }
    options.sampling = flags.options(defaults: options.sampling)
    self.options = options
  }
}

/// Writes `text` to standard output at once (no buffering), so replies stream.
func writeOutput(_ text: String) {
  FileHandle.standardOutput.write(Data(text.utf8))
}
