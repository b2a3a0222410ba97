import Foundation
import MiniTrain
import PipelineTestSupport
import Testing

/// GRPO with several optimizer steps per rollout batch (TRL's `num_iterations`).
@Suite(.serialized) struct GRPOIterationTests {
  static func setUp(steps: Int) throws -> (folder: String, stage: GRPOStage) {
    var (folder, stage) = try GRPORunTests.setUp(steps: steps)
    stage.grpo.numIterations = 3
    stage.options.checkpointEvery = 1
    return (folder, stage)
  }

  @Test func laterIterationsClipAndReuseTheRollouts() throws {
    let (folder, stage) = try Self.setUp(steps: 6)
    _ = try #require(try TrainingRun(directory: folder + "/run", label: "grpo").run(stage))
    let metrics = folder + "/run/metrics.jsonl"
    let clip = try GRPORunTests.stepFigures(metrics, "clip_fraction")
    let rewards = try GRPORunTests.stepFigures(metrics, "reward_mean")
    #expect(clip.count == 6 && rewards.count == 6)
    // The first step of each rollout batch has the sampler's own weights: ratio 1, no clip.
    #expect(clip[0] == 0 && clip[3] == 0, "\(clip)")
    // Steps 2 and 3 train on step 1's completions (same rewards) with a moved policy.
    #expect(rewards[1] == rewards[0] && rewards[2] == rewards[0], "\(rewards)")
    #expect(clip[1...2].contains { $0 > 0 } || clip[4...5].contains { $0 > 0 }, "\(clip)")
    let config = try String(contentsOfFile: folder + "/run/config.json", encoding: .utf8)
    #expect(config.contains("\"num_iterations\" : 3"))
  }

  @Test(arguments: [2, 4]) func resumeContinuesBitForBit(stopAt: Int) throws {
    let (folder, stage) = try Self.setUp(steps: 5)
    _ = try #require(try TrainingRun(directory: folder + "/full", label: "grpo").run(stage))
    let stopped = TrainingRun(directory: folder + "/stopped", label: "grpo")
    let stop = StopFlag()
    stopped.stopFlag = stop
    stopped.onEvent = { event in
      if case .stepFinished(let report) = event, report.step == stopAt { stop.request() }
    }
    #expect(try stopped.run(stage) == nil)
    _ = try #require(
      try TrainingRun(directory: folder + "/stopped", mode: .resume, label: "grpo").run(stage))
    let expected = try Data(
      contentsOf: URL(fileURLWithPath: folder + "/full/model/model.safetensors"))
    let actual = try Data(
      contentsOf: URL(fileURLWithPath: folder + "/stopped/model/model.safetensors"))
    #expect(actual == expected, "the resumed run's weights differ from the uninterrupted run's")
    for key in ["loss", "reward_mean", "kl", "clip_fraction"] {
      #expect(
        try GRPORunTests.stepFigures(folder + "/stopped/metrics.jsonl", key)
          == GRPORunTests.stepFigures(folder + "/full/metrics.jsonl", key), "\(key)")
    }
  }
}
