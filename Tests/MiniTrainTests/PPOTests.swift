import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// TRL's PPO figures written out with torch on fixed tensors by `Fixtures/ppo_reference.py`.
struct PPOReference: Decodable {
  struct Case: Decodable {
    var klCoef: Double
    var klEstimator: String
    var whitenRewards: Bool
    var gamma: Double
    var lam: Double
    var cliprange: Double
    var cliprangeValue: Double
    var vfCoef: Double
    var kl: [Double]
    var rewards: [Double]
    var advantages: [Double]
    var returns: [Double]
    var pgLoss: Double
    var vfLoss: Double
    var loss: Double
    var pgClipfrac: Double
    var vfClipfrac: Double
    var logprobGradient: [Double]
    var valueGradient: [Double]

    var criterion: PPOLoss {
      PPOLoss(
        klCoefficient: klCoef, klEstimator: PPOLoss.KLEstimator(rawValue: klEstimator)!,
        clipRange: cliprange, valueClipRange: cliprangeValue, valueCoefficient: vfCoef,
        gamma: gamma, lambda: lam, whitenRewards: whitenRewards)
    }
  }
  var rows: Int
  var width: Int
  var lengths: [Int]
  var logprobs: [Double]
  var ref: [Double]
  var values: [Double]
  var scores: [Double]
  var newLogprobs: [Double]
  var vpred: [Double]
  var cases: [Case]

  /// The script's figures, computed once per test process.
  static func load() throws -> PPOReference { try computed.get() }

  private static let computed = Result { try compute() }

  /// Runs the script with the peers' torch.
  static func compute() throws -> PPOReference {
    let python = try PythonRunner.requirePeers(importing: ["torch", "numpy"])
    let script =
      URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .appendingPathComponent("Fixtures/ppo_reference.py").path
    let data = try python.run([script]).get()
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return try decoder.decode(PPOReference.self, from: data)
  }

  /// The values as the rollout keeps them (0 past each row's value positions).
  var maskedValues: [Double] {
    let mask = PPOLoss.valueMask(lengths: lengths, width: width)
    return zip(values, mask).map { $1 ? $0 : 0 }
  }
}

@Suite(.serialized) struct PPOLossTests {
  @Test(.requires(.python("torch", "numpy")))
  func rolloutFiguresMatchTorch() throws {
    let reference = try PPOReference.load()
    #expect(reference.lengths == [3, 6, 1, 4])
    for item in reference.cases {
      let loss = item.criterion
      let label = "kl \(item.klCoef) \(item.klEstimator) whiten \(item.whitenRewards)"
      let (rewards, kl) = loss.tokenRewards(
        scores: reference.scores, logProbabilities: reference.logprobs,
        reference: reference.ref, lengths: reference.lengths, width: reference.width,
        klCoefficient: item.klCoef)
      for (a, b) in zip(kl, item.kl) { #expect(abs(a - b) < 1e-9, "\(label): kl") }
      for (a, b) in zip(rewards, item.rewards) {
        #expect(abs(a - b) < (item.whitenRewards ? 1e-7 : 1e-9), "\(label): reward")
      }
      let (advantages, returns) = loss.advantagesAndReturns(
        rewards: rewards, values: reference.values, lengths: reference.lengths,
        width: reference.width)
      // TRL's `masked_var` divides two integer sums for Bessel's correction, which torch does
      // in float32: whitened figures agree to float32 precision, the others to 1e-9.
      let tolerance = item.whitenRewards ? 1e-7 : 1e-9
      for (a, b) in zip(advantages, item.advantages) {
        #expect(abs(a - b) < 1e-7, "\(label): advantage \(a) vs \(b)")
      }
      for (a, b) in zip(returns, item.returns) {
        #expect(abs(a - b) < tolerance, "\(label): return \(a) vs \(b)")
      }
    }
  }

  @Test(.requires(.python("torch", "numpy")))
  func lossGradientAndFiguresMatchTorch() throws {
    let reference = try PPOReference.load()
    let tokens = PPOLoss.tokenMask(lengths: reference.lengths, width: reference.width)
    let valued = PPOLoss.valueMask(lengths: reference.lengths, width: reference.width)
    for item in reference.cases {
      let loss = item.criterion
      let label = "ε \(item.cliprange) εv \(item.cliprangeValue) vf \(item.vfCoef)"
      let tape = Tape()
      let logp = tape.variable(
        Tensor(reference.newLogprobs.map(Float.init), shape: [reference.newLogprobs.count]))
      let values = tape.variable(
        Tensor(reference.vpred.map(Float.init), shape: [reference.vpred.count]))
      let output = loss(
        logProbabilities: logp, old: reference.logprobs.map(Float.init),
        advantages: item.advantages.map(Float.init), tokenMask: tokens.map { $0 ? 1 : 0 },
        values: values, oldValues: reference.maskedValues.map(Float.init),
        returns: item.returns.map(Float.init), valueMask: valued.map { $0 ? 1 : 0 })
      tape.backward(from: output.loss)
      #expect(abs(Double(output.loss.value.item) - item.loss) < 1e-5, "\(label): loss")
      #expect(abs(output.policyLoss - item.pgLoss) < 1e-5, "\(label): policy loss")
      #expect(abs(output.valueLoss - item.vfLoss) < 1e-5, "\(label): value loss")
      #expect(abs(output.clipFraction - item.pgClipfrac) < 1e-9, "\(label): clip fraction")
      #expect(abs(output.valueClipFraction - item.vfClipfrac) < 1e-9, "\(label): value clip")
      let gradient = try #require(tape.gradient(of: logp)).scalars
      for (g, t) in zip(gradient, item.logprobGradient) {
        #expect(abs(Double(g) - t) < 1e-5, "\(label): log-probability gradient \(g) vs \(t)")
      }
      let valueGradient = try #require(tape.gradient(of: values)).scalars
      for (g, t) in zip(valueGradient, item.valueGradient) {
        #expect(abs(Double(g) - t) < 1e-5, "\(label): value gradient \(g) vs \(t)")
      }
    }
    // Both clips bind in these cases, so the check covers both sides of each max.
    #expect(reference.cases.contains { $0.pgClipfrac > 0 })
    #expect(reference.cases.contains { $0.vfClipfrac > 0 })
  }

  /// Central differences of the whole loss on fixed rollout arrays (no peer needed).
  @Test func gradientMatchesFiniteDifferences() throws {
    let rows = 3
    let width = 5
    let lengths = [2, 5, 4]
    var rng = PhiloxRNG(seed: 7)
    func draws(_ n: Int, scale: Float, shift: Float = 0) -> [Float] {
      (0..<n).map { _ in (rng.nextUniform() * 2 - 1) * scale + shift }
    }
    let logp = draws(rows * width, scale: 0.5, shift: -1.5)
    let old = zip(logp, draws(rows * width, scale: 0.3)).map { $0 + $1 }
    let values = draws(rows * width, scale: 1)
    let oldValues = zip(values, draws(rows * width, scale: 0.3)).map { $0 + $1 }
    let returns = draws(rows * width, scale: 1)
    let advantages = draws(rows * width, scale: 1)
    let loss = PPOLoss(clipRange: 0.2, valueClipRange: 0.2, valueCoefficient: 0.5)
    let tokens = PPOLoss.tokenMask(lengths: lengths, width: width).map { $0 ? Float(1) : 0 }
    let valued = PPOLoss.valueMask(lengths: lengths, width: width).map { $0 ? Float(1) : 0 }
    let report = GradientCheck.check(
      inputs: [
        Tensor(logp, shape: [rows * width]), Tensor(values, shape: [rows * width]),
      ],
      step: 1e-3
    ) { _, inputs in
      loss(
        logProbabilities: inputs[0], old: old, advantages: advantages, tokenMask: tokens,
        values: inputs[1], oldValues: oldValues, returns: returns, valueMask: valued
      ).loss
    }
    #expect(report.passed, "\(report)")
  }

  @Test func adaptiveKLMovesTowardsTheTarget() {
    let controller = PPOLoss.AdaptiveKL(target: 6, horizon: 10_000)
    // Above target: the coefficient grows by at most 20%·n/horizon.
    #expect(abs(controller.updated(0.2, kl: 12, completions: 100) - 0.2 * 1.002) < 1e-15)
    #expect(abs(controller.updated(0.2, kl: 5.4, completions: 100) - 0.2 * 0.999) < 1e-15)
  }
}

/// PPO runs of a tiny random chat model (2 layers of width 32, vocabulary 400) against a tiny
/// reward model of the same shape (random, seeded; `minillm reward`'s directory format): the
/// policy learns to raise its score.
@Suite(.serialized) struct PPORunTests {
  static func setUp(steps: Int, critic: PPOCritic? = nil) throws -> (
    folder: String, stage: PPOStage
  ) {
    let tokenizer = try tinyChatTokenizer()
    let model = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 64)
    let folder = try temporaryDirectory("ppo")
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 32, intermediateSize: 64, layerCount: 2,
      headCount: 4, kvHeadCount: 2, maxPositions: 64, initializerRange: 0.3)
    let rewardModel = try RewardModel(languageModel: Llama(config: config, seed: 2), seed: 6)
    try rewardModel.save(to: folder + "/rm")
    let prompts = [
      "你好", "hello there", "天气怎么样", "tell me more", "what is this", "再说一遍", "why", "好的",
    ].map { "{\"prompt\": \"\($0)\"}" }
    try (prompts.joined(separator: "\n") + "\n").write(
      toFile: folder + "/prompts.jsonl", atomically: true, encoding: .utf8)
    var options = TrainingOptions()
    options.steps = steps
    options.learningRate = 2e-2
    options.batchSize = 8
    options.microBatchSize = 4
    options.warmupSteps = 0
    options.checkpointEvery = 3
    options.seed = 3
    var ppo = PPOOptions()
    ppo.rewardModel = folder + "/rm"
    ppo.maxNewTokens = 6
    ppo.temperature = 1
    ppo.ppoEpochs = 2
    ppo.miniBatches = 2
    ppo.klTarget = 1
    ppo.critic = critic
    let stage = PPOStage(
      model: model, data: folder + "/prompts.jsonl", options: options, ppo: ppo)
    return (folder, stage)
  }

  @Test func ppoRaisesTheRewardModelsScore() throws {
    let (folder, stage) = try Self.setUp(steps: 120)
    _ = try #require(try TrainingRun(directory: folder + "/run", label: "ppo").run(stage))
    let metrics = folder + "/run/metrics.jsonl"
    let rewards = try GRPORunTests.stepFigures(metrics, "reward_mean")
    #expect(rewards.count == 120)
    // Each rollout batch of 16 serves 4 steps (2 epochs × 2 mini-batches).
    let first = rewards.prefix(8).reduce(0, +) / 8
    let last = rewards.suffix(8).reduce(0, +) / 8
    let std = try GRPORunTests.stepFigures(metrics, "reward_std").prefix(8).reduce(0, +) / 8
    print("PPO reward_mean: first 2 rollouts \(first), last 2 rollouts \(last), std \(std)")
    #expect(last > first + std, "reward_mean \(rewards)")
    for key in [
      "kl", "kl_coef", "entropy", "clip_fraction", "value_loss", "response_length",
      "advantage_std", "approx_kl",
    ] {
      let values = try GRPORunTests.stepFigures(metrics, key)
      #expect(values.count == 120 && values.allSatisfy(\.isFinite), "\(key)")
    }
    // Later epochs over a rollout batch move the policy away from the sampler: the clip binds.
    #expect(try GRPORunTests.stepFigures(metrics, "clip_fraction").contains { $0 > 0 })
    let page = try RunReport(run: RunDirectory(path: folder + "/run")).html()
    #expect(page.contains("value_loss"))
    // RUN/model is a chat model; the critic (separate, by default) sits beside it as a reward
    // model directory.
    _ = try Llama(directory: folder + "/run/model")
    _ = try PPOCriticTests.savedCritic(folder + "/run/model")
    #expect(!FileManager.default.fileExists(atPath: folder + "/run/model/value_head.safetensors"))
  }

  @Test(arguments: PPOCritic.allCases)
  func resumeContinuesBitForBit(critic: PPOCritic) throws {
    let (folder, stage) = try Self.setUp(steps: 6, critic: critic)
    _ = try #require(try TrainingRun(directory: folder + "/full", label: "ppo").run(stage))
    // Stopped at step 3: in the middle of a rollout batch's 4 steps.
    let stopped = TrainingRun(directory: folder + "/stopped", label: "ppo")
    let stop = StopFlag()
    stopped.stopFlag = stop
    stopped.onEvent = { event in
      if case .stepFinished(let report) = event, report.step == 3 { stop.request() }
    }
    #expect(try stopped.run(stage) == nil)
    _ = try #require(
      try TrainingRun(directory: folder + "/stopped", mode: .resume, label: "ppo").run(stage))
    let critics = critic == .separate ? [PPOPolicy.criticWeightsFile] : ["value_head.safetensors"]
    for file in ["model.safetensors"] + critics {
      let expected = try Data(contentsOf: URL(fileURLWithPath: folder + "/full/model/" + file))
      let actual = try Data(contentsOf: URL(fileURLWithPath: folder + "/stopped/model/" + file))
      #expect(actual == expected, "the resumed run's \(file) differs from the uninterrupted run's")
    }
    for key in ["loss", "reward_mean", "kl", "kl_coef", "value_loss", "clip_fraction"] {
      #expect(
        try GRPORunTests.stepFigures(folder + "/stopped/metrics.jsonl", key)
          == GRPORunTests.stepFigures(folder + "/full/metrics.jsonl", key), "\(key)")
    }
  }
}
