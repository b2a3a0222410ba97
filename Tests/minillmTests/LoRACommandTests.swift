import Foundation
import MiniLlama
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// `sft --lora-rank`, `--adapter` and `lora merge` on the self-cognition fixture.
@Suite(.serialized, .requires(SFTFixture.requirement)) struct LoRACommandTests {
  @Test func loraSFTWritesPEFTFilesThatGenerateAndMergeAgreeOn() throws {
    guard let fixture = SFTFixture.load() else { return }
    let folder = try temporaryDirectory("lora-sft")
    let run = folder + "/run"
    let arguments = [
      "sft", "--model", fixture.base, "--data", fixture.sftData, "--out", run, "--steps", "8",
      "--batch-size", "4", "--lr", "5e-3", "--save-every", "4", "--threads", "1",
      "--lora-rank", "8", "--lora-alpha", "16", "--lora-dropout", "0.05",
      "--lora-targets", "q_proj,v_proj,down_proj",
    ]
    let result = try runMinillmCapturing(fixture.executable, arguments)
    #expect(result.status == 0, "\(result.error)")
    #expect(result.error.contains("LoRA parameters (r 8"))
    for file in [
      "adapter_config.json", "adapter_model.safetensors", "tokenizer.model",
      "tokenizer_config.json",
    ] {
      #expect(FileManager.default.fileExists(atPath: run + "/adapter/" + file), "\(file)")
    }
    let configuration = try LoRAConfiguration(
      peftConfigurationAt: run + "/adapter/adapter_config.json")
    #expect(configuration.rank == 8 && configuration.alpha == 16)
    #expect(configuration.targets == ["q_proj", "v_proj", "down_proj"])
    let stored = try RunConfiguration<SFTSettings>.read(run + "/config.json")
    #expect(stored.stage.data.lora == configuration)

    // A resume without the LoRA flags keeps the stored adapters; other ones are refused.
    let resumed = try runMinillmCapturing(
      fixture.executable,
      ["sft", "--out", run, "--resume", "--steps", "10", "--threads", "1"])
    #expect(resumed.status == 0, "\(resumed.error)")
    let changed = try runMinillmCapturing(
      fixture.executable,
      ["sft", "--out", run, "--resume", "--lora-rank", "4", "--threads", "1"])
    #expect(changed.status != 0 && changed.error.contains("--lora-"), "\(changed.error)")

    // The adapter applied at load time and merged into a model directory give the same logits
    // and the same greedy reply.
    let merged = folder + "/merged"
    let merge = try runMinillmCapturing(
      fixture.executable,
      ["lora", "merge", "--model", fixture.base, "--adapter", run + "/adapter", "--out", merged])
    #expect(merge.status == 0, "\(merge.error)")
    let adapted = try LoRAModel(
      base: try Llama(directory: fixture.base), adapterDirectory: run + "/adapter")
    let ids: [Int32] = [1, 20, 33, 47, 5, 9]
    // Tolerance: W + s·BA rounded once versus two products added.
    expectClose(
      try Llama(directory: merged)(ids).value.scalars, adapted.model(ids).value.scalars, rtol: 0,
      atol: 1e-4)
    func reply(_ extra: [String]) throws -> String {
      let result = try runMinillmCapturing(
        fixture.executable,
        extra + [
          "--chat", "--greedy", "--prompt", "你是谁？", "--max-new-tokens", "12", "--threads", "1",
        ])
      #expect(result.status == 0, "\(result.error)")
      return result.output
    }
    let viaAdapter = try reply(["generate", "--model", fixture.base, "--adapter", run + "/adapter"])
    #expect(!viaAdapter.isEmpty)
    #expect(try reply(["generate", "--model", merged]) == viaAdapter)

    // A GGUF --model takes the adapter as its model directory does.
    let gguf = folder + "/base.gguf"
    let export = try runMinillmCapturing(
      fixture.executable,
      ["export", "gguf", "--model", fixture.base, "--out", gguf, "--type", "f32"])
    #expect(export.status == 0, "\(export.error)")
    #expect(try reply(["generate", "--model", gguf, "--adapter", run + "/adapter"]) == viaAdapter)
    func evalLoss(_ model: String) throws -> Double? {
      let result = try runMinillmCapturing(
        fixture.executable,
        [
          "eval", "--model", model, "--adapter", run + "/adapter", "--data",
          fixture.directory + "/pretrain", "--seq-len", "32", "--max-windows", "4", "--threads",
          "1",
        ])
      #expect(result.status == 0, "\(result.error)")
      return result.output.split(separator: "\n").first { $0.hasPrefix("loss ") }
        .flatMap { Double($0.dropFirst(5)) }
    }
    let (directoryLoss, ggufLoss) = (try evalLoss(fixture.base), try evalLoss(gguf))
    #expect(directoryLoss != nil && ggufLoss != nil)
    // Tolerance: the same f32 weights; the GGUF's q/k rows are permuted and back.
    #expect(abs((directoryLoss ?? 0) - (ggufLoss ?? 1)) < 1e-4)

    let bad = try runMinillmCapturing(
      fixture.executable,
      ["generate", "--model", fixture.base, "--adapter", folder, "--ids", "1,2", "--greedy"])
    #expect(bad.status != 0 && bad.error.contains("--adapter"), "\(bad.error)")
  }

  /// QLoRA: `sft --lora-rank` on a q8_0 GGUF file trains adapters on its blocks.
  @Test(arguments: ["q8_0", "q4_0"])
  func loraSFTOnAQuantizedGGUFBaseTrainsOnItsBlocks(type: String) throws {
    guard let fixture = SFTFixture.load() else { return }
    let folder = try temporaryDirectory("qlora-sft-\(type)")
    let gguf = folder + "/base.gguf"
    let export = try runMinillmCapturing(
      fixture.executable,
      ["export", "gguf", "--model", fixture.base, "--out", gguf, "--type", type])
    #expect(export.status == 0, "\(export.error)")
    let run = folder + "/run"
    let result = try runMinillmCapturing(
      fixture.executable,
      [
        "sft", "--model", gguf, "--data", fixture.sftData, "--out", run, "--steps", "12",
        "--batch-size", "4", "--lr", "5e-3", "--warmup-steps", "0", "--threads", "1",
        "--lora-rank", "8",
      ])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.error.contains("of them in GGUF blocks"), "\(result.error)")
    let losses = try String(contentsOfFile: run + "/metrics.jsonl", encoding: .utf8)
      .split(separator: "\n").compactMap { line -> Double? in
        let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
        return object?["loss"] as? Double
      }
    #expect(losses.count == 12)
    let (first, last) = (losses.prefix(3).reduce(0, +) / 3, losses.suffix(3).reduce(0, +) / 3)
    #expect(last < first, "loss \(losses)")
    // The adapter applies to the GGUF file it was trained on.
    let reply = try runMinillmCapturing(
      fixture.executable,
      [
        "generate", "--model", gguf, "--adapter", run + "/adapter", "--chat", "--greedy",
        "--prompt", "你是谁？", "--max-new-tokens", "8", "--threads", "1",
      ])
    #expect(reply.status == 0 && !reply.output.isEmpty, "\(reply.error)")
  }

  @Test func continuedPretrainingTrainsAdaptersOnTheGivenModel() throws {
    guard let fixture = SFTFixture.load() else { return }
    let run = try temporaryDirectory("lora-pretrain") + "/run"
    let result = try runMinillmCapturing(
      fixture.executable,
      [
        "pretrain", "--model", fixture.base, "--data", fixture.directory + "/pretrain", "--out",
        run, "--steps", "6", "--seq-len", "32", "--lr", "5e-3", "--threads", "1",
        "--lora-rank", "4",
      ])
    #expect(result.status == 0, "\(result.error)")
    #expect(result.error.contains("LoRA parameters (r 4"))
    #expect(FileManager.default.fileExists(atPath: run + "/adapter/adapter_model.safetensors"))
    let stored = try RunConfiguration<PretrainSettings>.read(run + "/config.json")
    #expect(stored.stage.lora?.rank == 4 && stored.stage.baseModel != nil)
    _ = try LoRAModel(base: try Llama(directory: fixture.base), adapterDirectory: run + "/adapter")

    let refused = try runMinillmCapturing(
      fixture.executable,
      [
        "pretrain", "--preset", "nano", "--data", fixture.directory + "/pretrain", "--out",
        run + "2", "--lora-rank", "4",
      ])
    #expect(refused.status != 0 && refused.error.contains("--model"), "\(refused.error)")
  }
}
