import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTrain
import TestSupport
import Testing

/// Golden outputs of a transformers model in `Tests/Fixtures/<name>`.
struct ParityFixture {
  let name: String
  let model: Llama
  let inputIds: [[Int32]]
  let logits: Tensor
  let loss: Float
  let gradients: [String: Tensor]
  let prompt: [Int32]
  let greedy: [Int32]

  /// Every parameter after one AdamW step from the saved weights with `gradients`.
  let afterAdamW: [String: Tensor]
  /// The loss before each of 10 AdamW steps on `inputIds` (torch.optim.AdamW, ``adamW``).
  let trajectory: [Float]
  /// The AdamW that `afterAdamW` and `trajectory` were made with.
  let adamW: AdamW

  /// Reads `Tests/Fixtures/<name>` (the format of `scripts/make-fixtures.py`).
  init(_ name: String) throws {
    self.name = name
    let path = fixturePath(name)
    model = try Llama(directory: path)
    let expected = try SafeTensorsFile(path: path + "/expected.safetensors")
    let ids = try expected.integers(named: "input_ids").map { Int32($0) }
    let shape = try #require(expected.info(named: "input_ids")?.shape)
    inputIds = (0..<shape[0]).map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
    logits = try expected.tensor(named: "logits")
    var grads: [String: Tensor] = [:]
    var after: [String: Tensor] = [:]
    for name in expected.names where name.hasPrefix("grad.") {
      grads[String(name.dropFirst(5))] = try expected.tensor(named: name)
    }
    for name in expected.names where name.hasPrefix("adamw.") {
      after[String(name.dropFirst(6))] = try expected.tensor(named: name)
    }
    gradients = grads
    afterAdamW = after
    let lossText = try #require(expected.metadata["loss"])
    loss = Float(try #require(Double(lossText)))
    let json = try #require(
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: path + "/expected.json"))) as? [String: Any])
    prompt = try #require(json["prompt"] as? [Int]).map { Int32($0) }
    greedy = try #require(json["greedy"] as? [Int]).map { Int32($0) }
    trajectory = try #require(json["trajectory"] as? [Double]).map { Float($0) }
    let settings = try #require(json["adamw"] as? [String: Any])
    let betas = try #require(settings["betas"] as? [Double])
    try #require(betas.count == 2 && settings["groups"] as? String == "all parameters")
    adamW = AdamW(
      learningRate: Float(try #require(settings["lr"] as? Double)), beta1: Float(betas[0]),
      beta2: Float(betas[1]), epsilon: Float(try #require(settings["eps"] as? Double)),
      weightDecay: Float(try #require(settings["weight_decay"] as? Double)), decayPolicy: .all)
  }

  var flatIds: [Int32] { inputIds.flatMap { $0 } }
}

@Suite("Llama parity with transformers")
struct LlamaParityTests {
  static let fixtures = [
    "hf-tiny-llama", "llama-tied-gqa4", "llama-llama3-rope", "llama-linear-rope",
  ]

  @Test(arguments: fixtures)
  func logitsMatch(name: String) throws {
    let fixture = try ParityFixture(name)
    let logits = fixture.model(fixture.flatIds, batch: fixture.inputIds.count).value
    #expect(logits.shape == fixture.logits.shape)
    // Tolerance: 1e-4 absolute on every logit.
    expectClose(logits.scalars, fixture.logits.scalars, rtol: 0, atol: 1e-4, "\(name) logits")
  }

  @Test(arguments: fixtures)
  func lossAndGradientsMatch(name: String) throws {
    let fixture = try ParityFixture(name)
    let model = fixture.model
    model.arena.zeroGradients()
    let loss = model.valueAndGradient { tape in
      model.languageModelLoss(fixture.flatIds, batch: fixture.inputIds.count, tape: tape)
    }
    // Tolerance: 1e-5 absolute on the loss.
    #expect(abs(loss - fixture.loss) <= 1e-5, "\(name): loss \(loss) vs \(fixture.loss)")
    #expect(fixture.gradients.count == model.arena.parameters.count)
    for parameter in model.arena.parameters {
      let expected = try #require(fixture.gradients[parameter.name], "\(parameter.name)")
      let scale = expected.scalars.map(abs).max() ?? 0
      // Tolerance: 1e-4 absolute, or 1e-3 relative to the tensor's largest gradient.
      expectClose(
        parameter.gradient.scalars, expected.scalars, rtol: 0, atol: max(1e-4, 1e-3 * scale),
        "\(name) gradient of \(parameter.name)")
    }
  }

  @Test(arguments: fixtures)
  func greedyGenerationMatchesTokenForToken(name: String) throws {
    let fixture = try ParityFixture(name)
    let generated = fixture.model.generate(
      prompt: fixture.prompt, options: GenerationOptions(maxNewTokens: fixture.greedy.count))
    #expect(generated == fixture.greedy)
  }

  @Test(arguments: fixtures)
  func adamWStepMatchesTorch(name: String) throws {
    let fixture = try ParityFixture(name)
    let model = fixture.model
    model.arena.withUnsafeMutableBuffers { buffers in
      for parameter in model.arena.parameters {
        let g = fixture.gradients[parameter.name]!.scalars
        for i in 0..<parameter.count { buffers.gradients[parameter.offset + i] = g[i] }
      }
    }
    var optimizer = fixture.adamW
    optimizer.update(model.arena)
    #expect(fixture.afterAdamW.count == model.arena.parameters.count)
    for parameter in model.arena.parameters {
      let expected = try #require(fixture.afterAdamW[parameter.name], "\(parameter.name)")
      // Tolerance: 1e-6 absolute after one step from torch's own gradients (the same
      // element-wise arithmetic; no sum is reordered).
      expectClose(
        parameter.value.scalars, expected.scalars, rtol: 0, atol: 1e-6,
        "\(name): \(parameter.name)")
    }
  }

  /// Ten AdamW steps on one batch, our model and optimizer against transformers'
  /// `LlamaForCausalLM` and `torch.optim.AdamW` with the same hyperparameters, loss by loss (as
  /// llm.c's `test_gpt2` checks its `expected_losses`).
  @Test(arguments: fixtures)
  func tenAdamWStepsFollowTorchsLossTrajectory(name: String) throws {
    let fixture = try ParityFixture(name)
    let model = fixture.model
    var optimizer = fixture.adamW
    var losses: [Float] = []
    for _ in fixture.trajectory.indices {
      model.arena.zeroGradients()
      losses.append(
        model.valueAndGradient { tape in
          model.languageModelLoss(fixture.flatIds, batch: fixture.inputIds.count, tape: tape)
        })
      optimizer.update(model.arena)
    }
    #expect(losses.count == 10)
    // Tolerance: 1e-4 relative on each loss. The first loss agrees within 1e-5 absolute
    // (lossAndGradientsMatch); each step then moves a weight by at most lr = 1e-3, and where a
    // gradient is within rounding of zero AdamW's first step can take either sign, but such a
    // weight barely moves the loss (its gradient is that near-zero value). Ten steps of float32
    // rounding in both programs stay well inside 1e-4 relative (about 5e-4 absolute), while
    // the losses fall by 0.7 to 1.4 over the ten steps.
    expectClose(losses, fixture.trajectory, rtol: 1e-4, atol: 0, "\(name): losses of 10 steps")
    #expect(losses.last! < losses.first! - 0.3, "\(name): the loss falls over the 10 steps")
  }
}
