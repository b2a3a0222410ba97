import Foundation
import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// Our adapter folders against PEFT's: each side loads the other's adapters and gives the same
/// logits, and merging gives base + adapter.
@Suite("PEFT interoperability")
struct PEFTInteropTests {
  static let script = """
    import json, sys
    import torch
    from transformers import AutoModelForCausalLM
    from peft import LoraConfig, PeftModel, get_peft_model
    mode, base_dir, adapter_dir = sys.argv[1], sys.argv[2], sys.argv[3]
    ids = torch.tensor(json.loads(sys.argv[4]))
    base = AutoModelForCausalLM.from_pretrained(base_dir, attn_implementation="eager").float().eval()
    if mode == "load":
        model = PeftModel.from_pretrained(base, adapter_dir).eval()
        with torch.no_grad():
            logits = model(ids).logits
            merged = model.merge_and_unload()(ids).logits
        print(json.dumps({"logits": logits.flatten().tolist(), "merged": merged.flatten().tolist()}))
    else:
        torch.manual_seed(0)
        config = LoraConfig(r=4, lora_alpha=12, lora_dropout=0.05, use_rslora=True,
                            target_modules=["v_proj", "q_proj", "up_proj"], task_type="CAUSAL_LM")
        model = get_peft_model(base, config)
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                torch.nn.init.normal_(parameter, std=0.2)
        model.save_pretrained(adapter_dir)
        model.eval()
        with torch.no_grad():
            logits = model(ids).logits
        print(json.dumps({"logits": logits.flatten().tolist()}))
    """

  static func folder(_ label: String) -> String {
    FileManager.default.temporaryDirectory
      .appendingPathComponent("minillm-peft-\(label)-\(UUID().uuidString)").path
  }

  /// A Llama (`tied`: with tied embeddings) or a Qwen2, whose q/k/v biases get random values
  /// so that the adapters add to a biased projection.
  static func base(_ kind: String) -> Llama {
    var config = LlamaConfig(
      vocabSize: 61, hiddenSize: 32, intermediateSize: 48, layerCount: 2, headCount: 4,
      kvHeadCount: 2, maxPositions: 32, ropeTheta: 10_000, tieWordEmbeddings: kind == "tied",
      initializerRange: 0.2)
    if kind == "qwen2" { config.architecture = .qwen2 }
    let model = Llama(config: config, seed: 17)
    for (i, bias) in model.arena.parameters.filter({ $0.name.hasSuffix(".bias") }).enumerated() {
      var rng = PhiloxRNG(seed: 200 + UInt64(i))
      bias.assign(Tensor((0..<bias.count).map { _ in rng.nextUniform() - 0.5 }, shape: bias.shape))
    }
    return model
  }

  static let ids: [[Int32]] = [[1, 5, 9, 60, 33, 2, 0, 18], [4, 4, 7, 12, 3, 59, 21, 8]]

  static func run(_ mode: String, base: String, adapter: String) throws -> [String: Any] {
    let python = try PythonRunner.requirePeers(importing: ["torch", "transformers", "peft"])
      .executable
    let idsJSON =
      "["
      + ids.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }
      .joined(separator: ",") + "]"
    var stderr = ""
    let output = try #require(
      runProcess(python, ["-c", script, mode, base, adapter, idsJSON], errorOutput: &stderr),
      "python failed: \(stderr)")
    return try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
  }

  static func floats(_ object: [String: Any], _ key: String) throws -> [Float] {
    try #require(object[key] as? [Double]).map(Float.init)
  }

  @Test(
    .requires(.python("torch", "transformers", "peft")), arguments: ["llama", "tied", "qwen2"])
  func peftLoadsOurAdapterAndMergesIt(kind: String) throws {
    let (basePath, adapterPath) = (Self.folder("base"), Self.folder("adapter"))
    defer {
      try? FileManager.default.removeItem(atPath: basePath)
      try? FileManager.default.removeItem(atPath: adapterPath)
    }
    let base = Self.base(kind)
    try base.save(to: basePath)
    let lora = LoRAModel(
      base: base,
      configuration: LoRAConfiguration(
        rank: 3, alpha: 6, dropout: 0.1, targets: LoRAConfiguration.projectionNames),
      seed: 4)
    for (i, parameter) in lora.arena.parameters.enumerated() {
      var rng = PhiloxRNG(seed: 100 + UInt64(i))
      parameter.assign(
        Tensor(
          (0..<parameter.count).map { _ in 0.4 * rng.nextUniform() - 0.2 }, shape: parameter.shape))
    }
    lora.baseModelPath = basePath
    try lora.saveAdapter(to: adapterPath)
    let theirs = try Self.run("load", base: basePath, adapter: adapterPath)
    let ours = lora.model(Self.ids.flatMap { $0 }, batch: 2).value.scalars
    #expect(ours != base(Self.ids.flatMap { $0 }, batch: 2).value.scalars)
    // Tolerance: 1e-4 absolute on every logit, as for the plain model.
    expectClose(ours, try Self.floats(theirs, "logits"), rtol: 0, atol: 1e-4)
    let merged = lora.merged()(Self.ids.flatMap { $0 }, batch: 2).value.scalars
    expectClose(merged, try Self.floats(theirs, "merged"), rtol: 0, atol: 1e-4)
    expectClose(merged, ours, rtol: 0, atol: 1e-4)
  }

  @Test(.requires(.python("torch", "transformers", "peft")), arguments: ["llama", "qwen2"])
  func anAdapterMadeByPEFTLoadsWithTheSameLogits(kind: String) throws {
    let (basePath, adapterPath) = (Self.folder("base"), Self.folder("adapter"))
    defer {
      try? FileManager.default.removeItem(atPath: basePath)
      try? FileManager.default.removeItem(atPath: adapterPath)
    }
    try Self.base(kind).save(to: basePath)
    let theirs = try Self.run("make", base: basePath, adapter: adapterPath)
    let lora = try LoRAModel(base: try Llama(directory: basePath), adapterDirectory: adapterPath)
    #expect(lora.configuration.targets == ["q_proj", "v_proj", "up_proj"])
    #expect(lora.configuration.useRSLoRA && lora.configuration.scale == 6)
    let ours = lora.model(Self.ids.flatMap { $0 }, batch: 2).value.scalars
    expectClose(ours, try Self.floats(theirs, "logits"), rtol: 0, atol: 1e-4)
  }
}
