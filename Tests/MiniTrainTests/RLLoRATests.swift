import Foundation
import MiniLlama
import MiniTrain
import PipelineTestSupport
import Testing

/// `--lora-*` on grpo and ppo: adapters train on the frozen chat model, which with adapters
/// disabled is the reference.
@Suite(.serialized) struct RLLoRATests {
  static let lora = LoRAOptions(rank: 4, alpha: 8, dropout: nil, targets: nil, useRSLoRA: nil)

  @Test func grpoTrainsAdaptersAgainstTheDisabledBase() throws {
    var (folder, stage) = try GRPORunTests.setUp(steps: 4)
    stage.lora = Self.lora
    _ = try #require(try TrainingRun(directory: folder + "/run", label: "grpo").run(stage))
    let metrics = folder + "/run/metrics.jsonl"
    // The adapters start at zero (B = 0): the first step's policy is the reference.
    let kl = try GRPORunTests.stepFigures(metrics, "kl")
    #expect(kl.count == 4 && kl[0] == 0 && kl.last! > 0, "\(kl)")
    let adapter = folder + "/run/adapter"
    #expect(FileManager.default.fileExists(atPath: adapter + "/adapter_model.safetensors"))
    let config = try String(contentsOfFile: folder + "/run/config.json", encoding: .utf8)
    #expect(config.contains("\"lora\""))
    // The adapters load onto the base and change its replies' log-probabilities.
    let base = try Llama(directory: stage.model!)
    let adapted = try LoRAModel(base: base, adapterDirectory: adapter)
    #expect(adapted.adapters.contains { $0.b.value.scalars.contains { $0 != 0 } })
  }

  /// As TRL with PEFT: adapters on the policy; a separate critic trains in full beside them.
  @Test(arguments: PPOCritic.allCases)
  func ppoTrainsAdaptersAndTheCriticAndResumes(critic: PPOCritic) throws {
    var (folder, stage) = try PPORunTests.setUp(steps: 6, critic: critic)
    stage.lora = Self.lora
    _ = try #require(try TrainingRun(directory: folder + "/full", label: "ppo").run(stage))
    let adapter = folder + "/full/adapter"
    let critics = critic == .separate ? [PPOPolicy.criticWeightsFile] : ["value_head.safetensors"]
    for file in ["adapter_model.safetensors", "adapter_config.json"] + critics {
      #expect(FileManager.default.fileExists(atPath: adapter + "/" + file), "\(file)")
    }
    let kl = try GRPORunTests.stepFigures(folder + "/full/metrics.jsonl", "kl")
    #expect(kl.count == 6 && kl[0] == 0, "\(kl)")
    let stopped = TrainingRun(directory: folder + "/stopped", label: "ppo")
    let stop = StopFlag()
    stopped.stopFlag = stop
    stopped.onEvent = { event in
      if case .stepFinished(let report) = event, report.step == 3 { stop.request() }
    }
    #expect(try stopped.run(stage) == nil)
    _ = try #require(
      try TrainingRun(directory: folder + "/stopped", mode: .resume, label: "ppo").run(stage))
    for file in ["adapter_model.safetensors"] + critics {
      let expected = try Data(contentsOf: URL(fileURLWithPath: adapter + "/" + file))
      let actual = try Data(
        contentsOf: URL(fileURLWithPath: folder + "/stopped/adapter/" + file))
      #expect(actual == expected, "\(file)")
    }
    if critic == .separate {
      // The critic trained: it left the reward model it started from.
      let start = try RewardModel(directory: folder + "/rm")
      let trained = try PPOCriticTests.savedCritic(adapter)
      #expect(trained.score.value.scalars != start.score.value.scalars)
    }
  }
}
