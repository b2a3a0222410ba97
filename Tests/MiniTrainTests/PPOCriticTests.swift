import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTrain
import TestSupport
import Testing

/// The separate critic (TRL's value model): its value loss and gradients through PPO's
/// objective against `transformers` and torch running TRL's value loss on the same critic
/// (`Fixtures/ppo_reference.py` with a critic directory).
@Suite(.serialized) struct PPOCriticTests {
  static let config = LlamaConfig(
    vocabSize: 48, hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 4,
    kvHeadCount: 2, maxPositions: 32, initializerRange: 0.3)

  /// The critic saved in `directory` by `PPOPolicy.save(to:)`, read through a reward model
  /// directory made of its two files.
  static func savedCritic(_ directory: String) throws -> RewardModel {
    let folder = try temporaryDirectory("critic")
    try FileManager.default.copyItem(
      atPath: directory + "/" + PPOPolicy.criticWeightsFile,
      toPath: folder + "/model.safetensors")
    try FileManager.default.copyItem(
      atPath: directory + "/" + PPOPolicy.criticConfigFile, toPath: folder + "/config.json")
    return try RewardModel(directory: folder)
  }

  /// Hand-made rollout rows: prompts and completions of several lengths, old values and
  /// returns spread so the value clip binds on some positions.
  static func rows() -> [PPORolloutRow] {
    var rng = PhiloxRNG(seed: 11)
    func draws(_ n: Int, scale: Float) -> [Float] {
      (0..<n).map { _ in (rng.nextUniform() * 2 - 1) * scale }
    }
    let shapes = [(3, 4, 5), (5, 2, 2), (2, 6, 6), (4, 1, 2)]
    return shapes.map { prompt, completion, valued in
      let ids = (0..<(prompt + completion)).map { _ in Int32(rng.nextUniform() * 47) + 1 }
      return PPORolloutRow(
        prompt: Array(ids.prefix(prompt)), completion: Array(ids.suffix(completion)),
        logProbabilities: [Float](repeating: -1, count: completion),
        advantages: [Float](repeating: 0, count: completion),
        values: draws(valued, scale: 0.5), returns: draws(valued, scale: 1.5), score: 0, kl: 0,
        klCoefficient: 0.05)
    }
  }

  @Test(.requires(.python("torch", "transformers")))
  func valueLossAndGradientsMatchTorch() throws {
    let python = try PythonRunner.requirePeers(importing: ["torch", "transformers"])
    let folder = try temporaryDirectory("ppo-critic")
    let start = RewardModel(config: Self.config, seed: 5)
    try start.save(to: folder + "/critic")
    let loss = PPOLoss(valueClipRange: 0.2, valueCoefficient: 0.1)
    let rows = Self.rows()
    let object: [String: Any] = [
      "cliprange_value": loss.valueClipRange, "vf_coef": loss.valueCoefficient,
      "rows": rows.map { row in
        [
          "tokens": (row.prompt + row.completion).map(Int.init), "start": row.prompt.count - 1,
          "old_values": row.values.map(Double.init), "returns": row.returns.map(Double.init),
        ] as [String: Any]
      },
    ]
    try JSONSerialization.data(withJSONObject: object).write(
      to: URL(fileURLWithPath: folder + "/input.json"))
    let script =
      URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("Fixtures/ppo_reference.py").path
    let output = try python.run([script, folder + "/critic", folder + "/input.json"]).get()
    let torch = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let torchLoss = try #require(torch["vf_loss"] as? Double)
    let torchGradients = try #require(torch["gradients"] as? [String: [Double]])

    let policy = try PPOPolicy(
      languageModel: Llama(config: Self.config, seed: 1),
      critic: RewardModel(directory: folder + "/critic"))
    let objective = PPOObjective(policy: policy, criterion: loss, temperature: 1)
    let batch = PPOBatch(rows, padding: 0)
    policy.arena.zeroGradients()
    let tape = Tape()
    let result = try objective.loss(on: batch, tape: tape)
    tape.backward(from: result.loss)
    let ours = try #require(result.metrics["value_loss"])
    print("separate critic value loss: ours \(ours), torch \(torchLoss)")
    // Float32 forward through two layers: 1e-5 relative.
    #expect(abs(ours - torchLoss) <= 1e-5 * max(1, abs(torchLoss)), "\(ours) vs \(torchLoss)")
    #expect(try #require(result.metrics["value_clip_fraction"]) > 0)
    for (name, expected) in torchGradients.sorted(by: { $0.key < $1.key }) {
      let parameter = try #require(policy.arena.parameter(named: PPOPolicy.criticPrefix + name))
      let gradient = parameter.gradient.scalars
      let scale = expected.map(abs).max() ?? 1
      let error = zip(gradient, expected).map { abs(Double($0) - $1) }.max() ?? 0
      // Gradients agree to 1e-4 of their largest entry (float32 backward through two layers).
      #expect(error <= 1e-4 * scale, "\(name): largest error \(error) of \(scale)")
    }
  }

  @Test func criticStartsAsTheRewardModelAndSavesAsOne() throws {
    let folder = try temporaryDirectory("ppo-critic-save")
    let start = RewardModel(config: Self.config, seed: 5)
    let policy = try PPOPolicy(languageModel: Llama(config: Self.config, seed: 1), critic: start)
    try policy.save(to: folder + "/model")
    let saved = try Self.savedCritic(folder + "/model")
    #expect(saved.arena.values.scalars == start.arena.values.scalars)
    // RUN/model holds the policy alone.
    let model = try Llama(directory: folder + "/model")
    #expect(model.arena.parameters.allSatisfy { !$0.name.hasPrefix(PPOPolicy.criticPrefix) })
    let reloaded = try PPOPolicy(
      languageModel: Llama(config: Self.config, seed: 9), critic: RewardModel(config: Self.config))
    try reloaded.loadWeights(fromDirectory: folder + "/model")
    #expect(reloaded.arena.values.scalars == policy.arena.values.scalars)
    #expect(reloaded.critic!.arena.values.scalars == start.arena.values.scalars)
  }
}
