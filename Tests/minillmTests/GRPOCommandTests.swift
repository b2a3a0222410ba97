import Foundation
import MiniLlama
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// `minillm grpo` on the SFT model of the alignment fixture (Docs/RL.md).
@Suite(.serialized, .requires(AlignmentFixture.requirement)) struct GRPOCommandTests {
  @Test func grpoRunsWithFormatAndRewardModelRewards() throws {
    guard let fixture = AlignmentFixture.load() else { return }
    let work = try temporaryDirectory("grpo-command")
    try """
    {"prompt": "天空为什么是蓝色的？"}
    {"prompt": "你好", "answer": "你好"}
    {"prompt": "写一首诗"}

    """.write(toFile: work + "/prompts.jsonl", atomically: true, encoding: .utf8)
    let common = [
      "--model", fixture.sftModel, "--data", "prompts.jsonl", "--group-size", "4",
      "--batch-size", "8", "--micro-batch-size", "4", "--max-new-tokens", "8", "--steps", "3",
      "--lr", "1e-3", "--threads", "1",
    ]
    var result = try fixture.run(
      ["grpo"] + common + ["--reward", "regex:(?s).*的.*", "--out", "format"], in: work)
    #expect(result.status == 0, "\(result.error)")
    print("grpo: \(jsonLines(result.output).last ?? [:])")
    let metrics = MetricsLog.read(path: work + "/format/metrics.jsonl")
    let keys = [
      "reward_mean", "kl", "entropy", "clip_fraction", "response_length", "advantage_std",
    ]
    #expect(metrics.filter { line in keys.allSatisfy { line[$0] is NSNumber } }.count == 3)
    #expect(try ModelDirectory(path: work + "/format/model").loadChatTemplate() == .chatml)

    // A reward model's scores (an untrained head on the SFT trunk).
    try RewardModel(languageModelDirectory: fixture.sftModel, seed: 1).save(to: work + "/rm")
    result = try fixture.run(
      ["grpo"] + common + ["--reward", "rm:rm", "--kl-coef", "0.1", "--out", "rm-run"], in: work)
    #expect(result.status == 0, "\(result.error)")
    let rewards = MetricsLog.read(path: work + "/rm-run/metrics.jsonl").compactMap {
      $0["reward_std"] as? Double
    }
    #expect(rewards.count == 3 && rewards.allSatisfy { $0 > 0 })

    // A bad prompt line is named.
    try "{\"prompt\": \"a\"}\n{\"question\": \"b\"}\n".write(
      toFile: work + "/bad.jsonl", atomically: true, encoding: .utf8)
    result = try fixture.run(
      [
        "grpo", "--model", fixture.sftModel, "--data", "bad.jsonl", "--reward", "exact",
        "--out", "bad", "--threads", "1",
      ], in: work)
    #expect(result.status != 0)
    #expect(result.error.contains("bad.jsonl:2: 'prompt' is missing"), "\(result.error)")
  }

  @Test func grpoTrainsAGGUFModelWithItsOwnVocabulary() throws {
    guard let fixture = AlignmentFixture.load() else { return }
    let work = try temporaryDirectory("grpo-gguf")
    var result = try fixture.run(
      ["export", "gguf", "--model", fixture.sftModel, "--out", work + "/policy.gguf"])
    #expect(result.status == 0, "\(result.error)")
    try "{\"prompt\": \"天空为什么是蓝色的？\"}\n{\"prompt\": \"写一首诗\"}\n".write(
      toFile: work + "/prompts.jsonl", atomically: true, encoding: .utf8)
    // The reward model keeps the SFT model's tokenizer.model; the GGUF file's vocabulary,
    // rebuilt from tokenizer.ggml.*, has other bytes but the same pieces.
    try RewardModel(languageModelDirectory: fixture.sftModel, seed: 1).save(to: work + "/rm")
    try FileManager.default.copyItem(
      atPath: fixture.sftModel + "/tokenizer.model", toPath: work + "/rm/tokenizer.model")
    result = try fixture.run(
      [
        "grpo", "--model", "policy.gguf", "--data", "prompts.jsonl", "--reward", "rm:rm",
        "--group-size", "4", "--batch-size", "8", "--micro-batch-size", "4",
        "--max-new-tokens", "8", "--steps", "2", "--lr", "1e-3", "--threads", "1", "--out", "run",
      ], in: work)
    #expect(result.status == 0, "\(result.error)")
    let rewards = MetricsLog.read(path: work + "/run/metrics.jsonl").compactMap {
      $0["reward_std"] as? Double
    }
    #expect(rewards.count == 2 && rewards.allSatisfy { $0 > 0 }, "\(rewards)")
    // The trained policy is a model directory whose tokenizer encodes as the SFT model's.
    let trained = try ModelDirectory(path: work + "/run/model").loadTokenizer()
    let original = try ModelDirectory(path: fixture.sftModel).loadTokenizer()
    #expect(trained.hasSameVocabulary(as: original))
    let text = "天空为什么是蓝色的？因为瑞利散射。"
    #expect(try trained.encode(text) == original.encode(text))
    let template = try ModelDirectory(path: work + "/run/model").loadChatTemplate()
    #expect(template.layoutDifference(from: .chatml) == nil)
  }
}
