import ArgumentParser
import MiniLlama
import MiniTrain

/// `--lora-rank R [--lora-alpha A] [--lora-dropout P] [--lora-targets …] [--use-rslora]`: train
/// low-rank adapters on the frozen base instead of the whole model.
struct LoRAFlags: ParsableArguments {
  @Option(
    help:
      "Train LoRA adapters of this rank on the frozen base instead of the whole model; RUN/adapter gets PEFT's adapter_config.json and adapter_model.safetensors."
  )
  var loraRank: Int?

  @Option(help: "LoRA alpha: the adapters' product is scaled by alpha/rank (default 2·rank).")
  var loraAlpha: Double?

  @Option(help: "Dropout on the adapters' input while training, in [0, 1) (default 0).")
  var loraDropout: Double?

  @Option(
    help:
      "Comma-separated projections to adapt (default q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj).",
    transform: { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } })
  var loraTargets: [String]?

  @Flag(help: "Scale the adapters by alpha/√rank (rank-stabilised LoRA) instead of alpha/rank.")
  var useRslora = false

  /// The layer of LoRA settings given.
  var options: LoRAOptions {
    LoRAOptions(
      rank: loraRank, alpha: loraAlpha, dropout: loraDropout, targets: loraTargets,
      useRSLoRA: useRslora ? true : nil)
  }
}

/// `--adapter DIR`: PEFT adapters applied to `--model` when it is loaded.
struct AdapterFlag: ParsableArguments {
  @Option(
    help:
      "A LoRA adapter folder (PEFT's adapter_config.json + adapter_model.safetensors) to apply to --model."
  )
  var adapter: String?

  /// The model at `path` (a directory or GGUF file) with the adapters of `--adapter`: on the
  /// Float weights when there are adapters, else as ``loadModel(_:)`` keeps them.
  func model(_ path: String) throws -> Llama {
    guard let adapter else { return try loadModel(path) }
    let base = try flagged("--model") { try Llama(directory: path) }
    return try flagged("--adapter") { try LoRAModel(base: base, adapterDirectory: adapter).model }
  }
}
