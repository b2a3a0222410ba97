import ArgumentParser
import Foundation
import MiniLlama
import MiniTrain

/// `minillm lora merge`: adapters folded into their base, as PEFT's `merge_and_unload`.
struct LoRACommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lora", abstract: "Work with LoRA adapters.", subcommands: [LoRAMergeCommand.self])
}

struct LoRAMergeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "merge",
    abstract: "Write a model directory whose weights are the base's with the adapters merged in.",
    discussion: """
      Each adapted projection becomes W + (alpha/r)·B·A (alpha/√r with use_rslora), as PEFT's \
      merge_and_unload computes it; the other weights are copied. OUT gets config.json, \
      model.safetensors and generation_config.json, and the tokenizer and chat files of the \
      adapter folder (else of BASE), so it can be used by generate, chat and `export gguf` \
      like any model directory.
      """)

  @Option(help: "Base model directory the adapters were trained on.")
  var model: String

  @Option(help: "Adapter folder (adapter_config.json + adapter_model.safetensors).")
  var adapter: String

  @Option(help: "Output model directory (must not exist yet, or be empty).")
  var out: String

  func run() throws {
    let base = try loadModel(model)
    let merged = try flagged("--adapter") {
      try LoRAModel(base: base, adapterDirectory: adapter).merged()
    }
    let existing = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
    guard existing.isEmpty else {
      throw CommandLineError("--out: \(out) is not empty; choose a new folder")
    }
    try flagged("--out") {
      try merged.save(to: out)
      for name in [
        "tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
        "generation_config.json",
      ] {
        // The adapter folder's chat files (written by a LoRA run) win over the base's.
        let sources = [adapter, model].map { ($0 as NSString).appendingPathComponent(name) }
        guard let source = sources.first(where: { FileManager.default.fileExists(atPath: $0) })
        else { continue }
        let bytes = try Data(contentsOf: URL(fileURLWithPath: source))
        try ModelDirectory(path: out).writeJSON(bytes, to: name)
      }
    }
    print(out)
  }
}
