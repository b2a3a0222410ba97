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

  init(_ name: String) throws {
    self.name = name
    let path = fixturePath(name)
    model = try Llama(directory: path)
    if name == "hf-tiny-llama" {
      let logitsFile = try SafeTensorsFile(path: path + "/logits.safetensors")
      let ids = try logitsFile.integers(named: "input_ids").map { Int32($0) }
      let shape = try #require(logitsFile.info(named: "input_ids")?.shape)
      inputIds = (0..<shape[0]).map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
      logits = try logitsFile.tensor(named: "logits")
      let gradsFile = try SafeTensorsFile(path: path + "/grads.safetensors")
      gradients = try gradsFile.loadAll()
      let json = try #require(
        try JSONSerialization.jsonObject(
          with: Data(contentsOf: URL(fileURLWithPath: path + "/fixture.json"))) as? [String: Any])
      loss = Float(try #require(json["loss"] as? Double))
      let greedyInfo = try #require(json["greedy"] as? [String: Any])
      prompt = try #require(greedyInfo["prompt"] as? [Int]).map { Int32($0) }
      greedy = try #require(greedyInfo["new_tokens"] as? [Int]).map { Int32($0) }
    } else {
      let expected = try SafeTensorsFile(path: path + "/expected.safetensors")
      let ids = try expected.integers(named: "input_ids").map { Int32($0) }
      let shape = try #require(expected.info(named: "input_ids")?.shape)
      inputIds = (0..<shape[0]).map { Array(ids[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
      logits = try expected.tensor(named: "logits")
      var grads: [String: Tensor] = [:]
      for name in expected.names where name.hasPrefix("grad.") {
        grads[String(name.dropFirst(5))] = try expected.tensor(named: name)
      }
      gradients = grads
      let lossText = try #require(expected.metadata["loss"])
      loss = Float(try #require(Double(lossText)))
      let json = try #require(
        try JSONSerialization.jsonObject(
          with: Data(contentsOf: URL(fileURLWithPath: path + "/expected.json"))) as? [String: Any])
      prompt = try #require(json["prompt"] as? [Int]).map { Int32($0) }
      greedy = try #require(json["greedy"] as? [Int]).map { Int32($0) }
    }
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

  @Test func adamWStepMatchesTorch() throws {
    let path = fixturePath("hf-tiny-llama")
    let model = try Llama(directory: path)
    let grads = try SafeTensorsFile(path: path + "/grads.safetensors").loadAll()
    let after = try SafeTensorsFile(path: path + "/after_adamw.safetensors").loadAll()
    model.arena.withUnsafeMutableBuffers { buffers in
      for parameter in model.arena.parameters {
        let g = grads[parameter.name]!.scalars
        for i in 0..<parameter.count { buffers.gradients[parameter.offset + i] = g[i] }
      }
    }
    var optimizer = AdamW(
      learningRate: 1e-3, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1,
      decayPolicy: .all)
    optimizer.update(model.arena)
    for parameter in model.arena.parameters {
      // Tolerance: 1e-6 absolute after one step.
      expectClose(
        parameter.value.scalars, after[parameter.name]!.scalars, rtol: 0, atol: 1e-6,
        "\(parameter.name)")
    }
  }
}
