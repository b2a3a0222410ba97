import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// GRPO teaches the tiny chat model of `GRPORunTests` a verifiable format it is poor at (a
/// reply holding the letter "e") on 4 training prompts; on 8 held-out prompts the share of
/// sampled replies in the format rises clearly above the starting model's, while the KL to the
/// reference stays bounded.
@Suite(.serialized) struct GRPOHeldOutTests {
  /// The share of `samples` replies per prompt (sampled at temperature 1 from fixed seeds)
  /// holding "e".
  static func accuracy(model: Llama, directory: String, prompts: [String], samples: Int) throws
    -> Double
  {
    let folder = ModelDirectory(path: directory)
    let tokenizer = try folder.loadTokenizer()
    let renderer = try ChatRenderer(template: folder.loadChatTemplate(), tokenizer: tokenizer)
    let stops = Set(
      (try folder.loadGenerationConfig().eosTokenIDs + renderer.stopTokenIDs).map(Int32.init))
    let sampler = RolloutSampler(
      sampling: SamplingOptions(temperature: 1, topP: 1, seed: 17), maxNewTokens: 6,
      stopTokens: stops)
    let file = try temporaryDirectory("held-out") + "/prompts.jsonl"
    try (prompts.map { "{\"prompt\": \"\($0)\"}" }.joined(separator: "\n") + "\n").write(
      toFile: file, atomically: true, encoding: .utf8)
    var ids: [[Int32]] = []
    for record in try PromptSet.read(file) {
      ids += Array(repeating: try renderer.renderPrompt(for: record.conversation), count: samples)
    }
    let completions = sampler.complete(ids, model: model, firstIndex: 0)
    var hits = 0
    for completion in completions {
      let reply = completion.filter { !stops.contains($0) }
      if try tokenizer.decode(reply.map(Int.init)).contains("e") { hits += 1 }
    }
    return Double(hits) / Double(completions.count)
  }

  @Test func heldOutAccuracyRisesWithBoundedKL() throws {
    let (folder, stage) = try GRPORunTests.setUp(steps: 40)
    _ = try #require(try TrainingRun(directory: folder + "/run", label: "grpo").run(stage))
    let heldOut = ["what is this", "再说一遍", "why", "好的", "good morning", "谢谢", "how so", "请讲"]
    let before = try Self.accuracy(
      model: Llama(directory: stage.model!), directory: stage.model!, prompts: heldOut,
      samples: 8)
    let after = try Self.accuracy(
      model: Llama(directory: folder + "/run/model"), directory: folder + "/run/model",
      prompts: heldOut, samples: 8)
    let kl = try GRPORunTests.stepFigures(folder + "/run/metrics.jsonl", "kl")
    print("GRPO held-out accuracy: start \(before), after \(after); final KL \(kl.last ?? .nan)")
    #expect(after >= before + 0.3, "held-out accuracy \(before) → \(after)")
    #expect(kl.allSatisfy { $0.isFinite && $0 < 10 }, "\(kl)")
  }
}
