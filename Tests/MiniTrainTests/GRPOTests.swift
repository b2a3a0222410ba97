import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// TRL's GRPO loss written out with torch on fixed tensors, from
/// `Fixtures/make_grpo_reference.py`.
struct GRPOReference: Decodable {
  struct Case: Decodable {
    var lossType: String
    var beta: Double
    var eps: Double
    var loss: Double
    var gradient: [Double]
    var kl: Double
    var clipFraction: Double
  }
  var rows: Int
  var group: Int
  var logps: [Double]
  var old: [Double]
  var ref: [Double]
  var mask: [Double]
  var rewards: [Double]
  var advantages: [Double]
  var cases: [Case]

  static func load() throws -> GRPOReference {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("grpo_reference.json")))
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return try decoder.decode(GRPOReference.self, from: data)
  }
}

@Suite struct GRPOLossTests {
  @Test func advantagesMatchTorch() throws {
    let reference = try GRPOReference.load()
    let ours = GRPOLoss.advantages(rewards: reference.rewards, groupSize: reference.group)
    for (a, b) in zip(ours, reference.advantages) { #expect(abs(a - b) < 1e-9) }
    // A group of equal rewards has no advantage.
    #expect(GRPOLoss.advantages(rewards: [0.5, 0.5, 0.5], groupSize: 3) == [0, 0, 0])
  }

  @Test func lossGradientAndFiguresMatchTorch() throws {
    let reference = try GRPOReference.load()
    let advantages = reference.advantages.map(Float.init)
    for item in reference.cases {
      let loss = GRPOLoss(
        beta: item.beta, epsilonLow: item.eps,
        normalization: GRPOLoss.Normalization(rawValue: item.lossType)!)
      let tape = Tape()
      let logp = tape.variable(
        Tensor(reference.logps.map(Float.init), shape: [reference.logps.count]))
      let output = loss(
        logProbabilities: logp, old: reference.old.map(Float.init),
        reference: reference.ref.map(Float.init), mask: reference.mask.map(Float.init),
        advantages: advantages)
      tape.backward(from: output.loss)
      let gradient = try #require(tape.gradient(of: logp)).scalars
      let label = "\(item.lossType) β \(item.beta) ε \(item.eps)"
      #expect(abs(Double(output.loss.value.item) - item.loss) < 1e-5, "\(label)")
      for (g, t) in zip(gradient, item.gradient) {
        #expect(abs(Double(g) - t) < 1e-5, "\(label): gradient \(g) vs \(t)")
      }
      #expect(abs(output.kl - (item.beta == 0 ? 0 : item.kl)) < 1e-5, "\(label)")
      #expect(abs(output.clipFraction - item.clipFraction) < 1e-9, "\(label)")
    }
  }

  @Test func gradientMatchesFiniteDifferences() throws {
    let reference = try GRPOReference.load()
    let loss = GRPOLoss(beta: 0.3, epsilonLow: 0.2)
    let old = reference.old.map(Float.init)
    let ref = reference.ref.map(Float.init)
    let mask = reference.mask.map(Float.init)
    let advantages = reference.advantages.map(Float.init)
    let report = GradientCheck.check(
      inputs: [Tensor(reference.logps.map(Float.init), shape: [reference.logps.count])],
      step: 1e-3
    ) { _, inputs in
      loss(
        logProbabilities: inputs[0], old: old, reference: ref, mask: mask, advantages: advantages
      ).loss
    }
    #expect(report.passed, "\(report)")
  }
}

/// GRPO runs of a tiny random chat model on a reward it can learn: replies holding the letter
/// "e" score 1.
@Suite(.serialized) struct GRPORunTests {
  static func setUp(steps: Int) throws -> (folder: String, stage: GRPOStage) {
    let tokenizer = try tinyChatTokenizer()
    let model = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 64)
    let folder = try temporaryDirectory("grpo")
    let prompts = ["你好", "hello there", "天气怎么样", "tell me more"].map {
      "{\"prompt\": \"\($0)\"}"
    }
    try (prompts.joined(separator: "\n") + "\n").write(
      toFile: folder + "/prompts.jsonl", atomically: true, encoding: .utf8)
    var options = TrainingOptions()
    options.steps = steps
    options.learningRate = 5e-3
    options.batchSize = 16
    options.microBatchSize = 8
    options.warmupSteps = 0
    options.checkpointEvery = 2
    options.seed = 3
    var grpo = GRPOOptions()
    grpo.reward = "regex:(?s).*e.*"
    grpo.groupSize = 8
    grpo.maxNewTokens = 6
    let stage = GRPOStage(
      model: model, data: folder + "/prompts.jsonl", options: options, grpo: grpo)
    return (folder, stage)
  }

  static func stepFigures(_ path: String, _ key: String) throws -> [Double] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").compactMap {
      let object = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
      return object?[key] as? Double
    }
  }

  @Test func grpoRaisesTheMeanReward() throws {
    let (folder, stage) = try Self.setUp(steps: 40)
    _ = try #require(try TrainingRun(directory: folder + "/run", label: "grpo").run(stage))
    let rewards = try Self.stepFigures(folder + "/run/metrics.jsonl", "reward_mean")
    let kl = try Self.stepFigures(folder + "/run/metrics.jsonl", "kl")
    #expect(rewards.count == 40)
    let first = rewards.prefix(4).reduce(0, +) / 4
    let last = rewards.suffix(4).reduce(0, +) / 4
    print("GRPO reward_mean: first 4 steps \(first), last 4 steps \(last); kl \(kl.last ?? 0)")
    #expect(last > first + 0.3, "reward_mean \(rewards)")
    #expect(kl.allSatisfy { $0.isFinite && $0 >= 0 })
    let page = try RunReport(run: RunDirectory(path: folder + "/run")).html()
    #expect(page.contains("reward_mean") && page.contains("clip_fraction"))
    for key in ["entropy", "clip_fraction", "response_length", "advantage_std"] {
      #expect(try Self.stepFigures(folder + "/run/metrics.jsonl", key).count == 40, "\(key)")
    }
  }

  @Test func resumeContinuesBitForBit() throws {
    let (folder, stage) = try Self.setUp(steps: 4)
    _ = try #require(try TrainingRun(directory: folder + "/full", label: "grpo").run(stage))
    let stopped = TrainingRun(directory: folder + "/stopped", label: "grpo")
    let stop = StopFlag()
    stopped.stopFlag = stop
    stopped.onEvent = { event in
      if case .stepFinished(let report) = event, report.step == 2 { stop.request() }
    }
    #expect(try stopped.run(stage) == nil)
    _ = try #require(
      try TrainingRun(directory: folder + "/stopped", mode: .resume, label: "grpo").run(stage))
    let expected = try Data(
      contentsOf: URL(fileURLWithPath: folder + "/full/model/model.safetensors"))
    let actual = try Data(
      contentsOf: URL(fileURLWithPath: folder + "/stopped/model/model.safetensors"))
    #expect(actual == expected, "the resumed run's weights differ from the uninterrupted run's")
    for key in ["loss", "reward_mean", "kl"] {
      #expect(
        try Self.stepFigures(folder + "/stopped/metrics.jsonl", key)
          == Self.stepFigures(folder + "/full/metrics.jsonl", key), "\(key)")
    }
  }

  /// A reward of one's own: the reply's token count over 10.
  struct Length: RewardFunction {
    func rewards(_ completions: [ScoredCompletion]) throws -> [Double] {
      completions.map { Double($0.completionIDs.count) / 10 }
    }
  }

  @Test func aRewardOfOnesOwnScoresTheCompletions() throws {
    var (folder, stage) = try Self.setUp(steps: 1)
    stage.grpo.maxNewTokens = 1
    stage.grpo.reward = "length"
    stage.customReward = Length()
    _ = try #require(try TrainingRun(directory: folder + "/run", label: "grpo").run(stage))
    let metrics = folder + "/run/metrics.jsonl"
    // One token each: every reward is 0.1, every advantage 0, and the policy is the reference,
    // so the loss is 0.
    #expect(try Self.stepFigures(metrics, "reward_mean") == [0.1])
    #expect(try Self.stepFigures(metrics, "advantage_std") == [0])
    #expect(try Self.stepFigures(metrics, "kl") == [0])
    let config = try String(contentsOfFile: folder + "/run/config.json", encoding: .utf8)
    #expect(config.contains("\"reward\" : \"length\""))
  }

  @Test func badPromptFilesNameTheFileAndLine() throws {
    let folder = try temporaryDirectory("grpo-bad")
    let path = folder + "/prompts.jsonl"
    try "{\"prompt\": \"a\"}\n{\"prompt\": 3}\n".write(
      toFile: path, atomically: true, encoding: .utf8)
    #expect(
      throws: TrainingRunError.setting(
        "--data", "\(path):2: 'prompt' is missing or not a non-empty string")
    ) {
      try PromptSet.read(path)
    }
    try "{\"prompt\": \"a\", \"answer\": \"1\"}\nnot json\n".write(
      toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: TrainingRunError.setting("--data", "\(path):2: not a JSON object")) {
      try PromptSet.read(path)
    }
    try "{\"prompt\": \"a\", \"answer\": 12}\n".write(
      toFile: path, atomically: true, encoding: .utf8)
    #expect(try PromptSet.read(path).first?.answer == "12")
  }
}

@Suite struct RewardFunctionTests {
  static func completion(_ text: String, answer: String? = nil, promptIDs: [Int32] = [1])
    -> ScoredCompletion
  {
    ScoredCompletion(
      prompt: Conversation(messages: [Message(role: .user, content: "q")]), answer: answer,
      promptIDs: promptIDs, completionIDs: [], text: text)
  }

  @Test func formatAndExactRewards() throws {
    let format = try FormatReward(pattern: "(?s)<think>.*</think>.*")
    #expect(
      try format.rewards([
        Self.completion("<think>x\ny</think> 3"), Self.completion("3 <think></think>"),
      ]) == [1, 0])
    #expect(throws: TrainingRunError.self) { try FormatReward(pattern: "(") }

    let whole = try ExactAnswerReward()
    #expect(
      try whole.rewards([
        Self.completion(" 42\n", answer: "42"), Self.completion("41", answer: "42"),
        Self.completion("42"),
      ]) == [1, 0, 0])
    let extracted = try ExactAnswerReward(pattern: #"答案：(\d+)"#)
    #expect(extracted.extract("答案：1，不对，答案：12。") == "12")
    #expect(
      try extracted.rewards([
        Self.completion("想一想……答案：12", answer: "12"), Self.completion("12", answer: "12"),
      ]) == [1, 0])
  }

  @Test func modelRewardScoresAsMinillmScore() throws {
    let tokenizer = try tinyChatTokenizer()
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 32, intermediateSize: 64, layerCount: 2,
      headCount: 4, kvHeadCount: 2, maxPositions: 64, initializerRange: 0.3)
    let model = try RewardModel(languageModel: Llama(config: config, seed: 2), seed: 5)
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let prompt = "你好"
    let promptIDs = try renderer.renderPrompt(
      for: Conversation(messages: [Message(role: .user, content: prompt)]))
    let replies = ["你好！", "hello there", "我不知道。"]
    let ours = try ModelReward(model: model, renderer: renderer, batchSize: 2).rewards(
      replies.map { Self.completion($0, promptIDs: promptIDs) })
    let score = try model.scores(
      ofResponses: replies, to: prompt, system: nil, renderer: renderer, batchSize: 3)
    for (a, b) in zip(ours, score) { #expect(abs(a - Double(b)) < 1e-5) }
    #expect(Set(ours).count == 3)
  }
}
