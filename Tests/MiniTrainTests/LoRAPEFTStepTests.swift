import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// One LoRA SFT step of the shared ``Trainer`` against PEFT + `torch.optim.AdamW` on the same
/// base, adapters and batch.
@Suite struct LoRAPEFTStepTests {
  static let script = """
    import json, sys
    import torch
    import torch.nn.functional as F
    from transformers import LlamaForCausalLM
    from peft import PeftModel
    base_dir, adapter_dir, batch = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    base = LlamaForCausalLM.from_pretrained(base_dir, attn_implementation="eager").float()
    model = PeftModel.from_pretrained(base, adapter_dir, is_trainable=True)
    model.train()
    params = {n.replace(".default", ""): p for n, p in model.named_parameters() if p.requires_grad}
    optimizer = torch.optim.AdamW(params.values(), lr=batch["lr"], betas=(0.9, 0.95), eps=1e-8,
                                  weight_decay=0.1)
    inputs = torch.tensor(batch["inputs"]).view(batch["rows"], -1)
    targets = torch.tensor(batch["targets"])
    logits = model(inputs).logits
    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets, ignore_index=-100)
    loss.backward()
    gradients = {n: p.grad.flatten().tolist() for n, p in params.items()}
    optimizer.step()
    print(json.dumps({"loss": loss.item(), "gradients": gradients,
                      "weights": {n: p.detach().flatten().tolist() for n, p in params.items()}}))
    """

  @Test(.requires(.python("torch", "transformers", "peft")))
  func oneLoRASFTStepEqualsPEFTWithTorchAdamW() throws {
    let python = try PythonRunner.requirePeers(importing: ["torch", "transformers", "peft"])
      .executable
    let folder = try temporaryDirectory()
    let base = Llama(config: tinyConfig(vocabulary: 64, maxPositions: 32), seed: 5)
    try base.save(to: folder + "/base")
    let model = try FineTuneModel(
      base: base, lora: LoRAConfiguration(rank: 4, alpha: 8, dropout: 0), seed: 3,
      baseModelPath: folder + "/base")
    let lora = try #require(model.lora)
    // B starts at zero, which would leave A without a gradient: start from random B.
    for adapter in lora.adapters {
      var rng = PhiloxRNG(seed: UInt64(adapter.b.offset))
      adapter.b.assign(
        Tensor(
          (0..<adapter.b.count).map { _ in 0.2 * rng.nextUniform() - 0.1 }, shape: adapter.b.shape))
    }
    try lora.saveAdapter(to: folder + "/initial")

    let samples = [
      SFTSample(inputIDs: [1, 7, 9, 12, 30, 31, 2, 0], lossMask: [0, 0, 0, 0, 1, 1, 1, 1]),
      SFTSample(inputIDs: [1, 5, 40, 41, 42, 0], lossMask: [0, 0, 1, 1, 1, 1]),
    ]
    let batch = SFTBatch(samples: samples, paddingID: 0)
    struct Fixed: DataLoader {
      let batch: SFTBatch
      mutating func next() -> SFTBatch { batch }
      var cursor: Int { 0 }
      mutating func restore(_ cursor: Int) {}
      var epoch: Int { 0 }
    }
    let learningRate: Float = 1e-3
    let trainer = Trainer(
      model: model, objective: SupervisedFineTuningObjective(model: model.llama),
      optimizer: AdamW(learningRate: learningRate, beta1: 0.9, beta2: 0.95, weightDecay: 0.1),
      schedule: LearningRateSchedule(
        kind: .constant, peakLearningRate: learningRate, minimumLearningRate: learningRate,
        totalSteps: 1),
      loader: Fixed(batch: batch),
      configuration: TrainingConfiguration(totalSteps: 1, maxGradientNorm: nil))
    let report = try trainer.step()

    let request: [String: Any] = [
      "lr": Double(learningRate), "rows": batch.rows, "inputs": batch.inputs.map(Int.init),
      "targets": batch.targets.map(Int.init),
    ]
    let requestJSON = String(
      decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    var stderr = ""
    let output = try #require(
      runProcess(
        python, ["-c", Self.script, folder + "/base", folder + "/initial", requestJSON],
        errorOutput: &stderr),
      "python failed: \(stderr)")
    let object = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let loss = try #require(object["loss"] as? Double)
    #expect(abs(Double(report.loss) - loss) <= 1e-5)
    let weights = try #require(object["weights"] as? [String: [Double]])
    let gradients = try #require(object["gradients"] as? [String: [Double]])
    #expect(Set(weights.keys) == Set(lora.arena.parameters.map(\.name)))
    for parameter in lora.arena.parameters {
      let theirs = try #require(weights[parameter.name]).map(Float.init)
      let gradient = try #require(gradients[parameter.name]).map(Float.init)
      // Tolerance: 1e-6 on the adapter weights after the step.
      expectCloseAfterFirstAdamWStep(
        parameter.value.scalars, theirs, gradient: gradient, learningRate: learningRate,
        rtol: 0, atol: 1e-6, Comment(rawValue: parameter.name))
    }
  }
}
