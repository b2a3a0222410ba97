import Foundation
import MiniLlama
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// `minillm ppo` on the SFT model of the alignment fixture (Docs/RL.md).
@Suite(.serialized, .requires(AlignmentFixture.requirement)) struct PPOCommandTests {
  @Test func ppoRunsAgainstARewardModelDirectory() throws {
    guard let fixture = AlignmentFixture.load() else { return }
    let work = try temporaryDirectory("ppo-command")
    try """
    {"prompt": "天空为什么是蓝色的？"}
    {"prompt": "你好"}
    {"prompt": "写一首诗"}
    {"prompt": "今天天气怎么样？"}

    """.write(toFile: work + "/prompts.jsonl", atomically: true, encoding: .utf8)
    // A reward model (an untrained head on the SFT trunk), saved as `minillm reward` saves it.
    try RewardModel(languageModelDirectory: fixture.sftModel, seed: 1).save(to: work + "/rm")
    let result = try fixture.run(
      [
        "ppo", "--model", fixture.sftModel, "--reward-model", "rm", "--data", "prompts.jsonl",
        "--batch-size", "4", "--micro-batch-size", "2", "--ppo-epochs", "2",
        "--max-new-tokens", "8", "--steps", "4", "--lr", "1e-3", "--kl-target", "3",
        "--whiten-rewards", "--threads", "1", "--out", "run",
      ], in: work)
    #expect(result.status == 0, "\(result.error)")
    print("ppo: \(jsonLines(result.output).last ?? [:])")
    let metrics = MetricsLog.read(path: work + "/run/metrics.jsonl")
    let keys = [
      "reward_mean", "kl", "kl_coef", "entropy", "clip_fraction", "value_loss",
      "response_length", "advantage_std",
    ]
    #expect(metrics.filter { line in keys.allSatisfy { line[$0] is NSNumber } }.count == 4)
    #expect(try ModelDirectory(path: work + "/run/model").loadChatTemplate() == .chatml)
    let config = try String(contentsOfFile: work + "/run/config.json", encoding: .utf8)
    #expect(config.contains("\"whiten_rewards\" : true") && config.contains("\"target\" : 3"))

    // A reward model directory that is not one is named.
    let bad = try fixture.run(
      [
        "ppo", "--model", fixture.sftModel, "--reward-model", fixture.sftModel, "--data",
        "prompts.jsonl", "--out", "bad", "--threads", "1",
      ], in: work)
    #expect(bad.status != 0)
    #expect(bad.error.contains("--reward-model"), "\(bad.error)")

    // grpo's spelling, --reward rm:DIR, names the same model; rule rewards are grpo's.
    let spelled = try fixture.run(
      [
        "ppo", "--model", fixture.sftModel, "--reward", "rm:" + fixture.sftModel, "--data",
        "prompts.jsonl", "--out", "bad2", "--threads", "1",
      ], in: work)
    #expect(spelled.status != 0 && spelled.error.contains("--reward-model"), "\(spelled.error)")
    for reward in ["exact", "regex:.*", "rm:"] {
      let refused = try fixture.run(
        [
          "ppo", "--model", fixture.sftModel, "--reward", reward, "--data", "prompts.jsonl",
          "--out", "bad3", "--threads", "1",
        ], in: work)
      #expect(refused.status != 0 && refused.error.contains("--reward: ppo takes rm:DIR"))
    }
  }
}
