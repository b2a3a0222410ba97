import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// The pipeline's own stages (`PretrainStage`, `SFTStage`, `RewardStage`, `DPOStage`) run by a
/// Swift program through ``TrainingRun``, as the `minillm` training commands run them: the
/// same settings checks, `RUN/config.json`, `RUN/model` and result line, without the CLI.
@Suite(.serialized) struct PipelineStageTests {
  /// A few steps of every stage's settings: small batches, no evaluation beyond one batch.
  static func options(steps: Int) -> TrainingOptions {
    var options = TrainingOptions()
    options.steps = steps
    options.batchSize = 2
    options.microBatchSize = 1
    options.evalBatches = 1
    options.evalFraction = 0.2
    return options
  }

  static func config(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path + "/config.json"))
    return try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
  }

  @Test func pretrainStageTrainsAModelFromAConfigFileOnTokenShards() throws {
    let folder = try temporaryDirectory()
    let data = folder + "/data"
    _ = try writeDataset(
      patternDocuments(count: 60, vocabulary: 64), vocabulary: 64, into: data)
    let configPath = folder + "/model.json"
    try JSONEncoder().encode(tinyConfig(vocabulary: 64, maxPositions: 16))
      .write(to: URL(fileURLWithPath: configPath))
    var messages: [String] = []
    let run = TrainingRun(directory: folder + "/run", label: "pretrain") { messages.append($0) }
    let stage = PretrainStage(data: data, config: configPath, options: Self.options(steps: 3))
    let result = try #require(try run.run(stage))

    #expect(result.summary.progress.step == 3)
    let stored = try Self.config(folder + "/run")
    #expect(stored["stage"] as? String == "pretrain")
    #expect(stored["sequence_length"] as? Int == 16, "the model's context by default")
    #expect(stored["batch_size"] as? Int == 2)
    #expect(FileManager.default.fileExists(atPath: folder + "/run/model/model.safetensors"))
    #expect(messages.contains { $0.hasPrefix("[pretrain] ") && $0.contains("3 steps of 2") })
  }

  @Test func stagesRefuseSettingsOutOfRangeNamingTheFlag() throws {
    var options = TrainingOptions()
    options.learningRate = -1
    #expect(throws: TrainingRunError.setting("--lr", "must be > 0, got -1.0")) {
      try options.validate()
    }
    options = TrainingOptions()
    options.evalFraction = 0.5
    #expect(throws: TrainingRunError.setting("--eval-fraction", "must be in [0, 0.5), got 0.5")) {
      try options.validate()
    }
    options = TrainingOptions()
    options.beta2 = .nan
    #expect(throws: TrainingRunError.setting("--beta2", "must be finite, got nan")) {
      try options.validate()
    }
    #expect(throws: Never.self) { try Self.options(steps: 3).validate() }

    let folder = try temporaryDirectory()
    _ = try writeDataset(
      patternDocuments(count: 60, vocabulary: 64), vocabulary: 64, into: folder + "/data")
    let configPath = folder + "/model.json"
    try JSONEncoder().encode(tinyConfig(vocabulary: 64, maxPositions: 16))
      .write(to: URL(fileURLWithPath: configPath))
    let stage = PretrainStage(
      data: folder + "/data", config: configPath, sequenceLength: 17,
      options: Self.options(steps: 1))
    #expect(
      throws: TrainingRunError.setting(
        "--seq-len", "17 exceeds the model's max_position_embeddings 16")
    ) { try TrainingRun(directory: folder + "/run", label: "pretrain").run(stage) }
  }

  /// A chat model, and SFT and preference shards made with its tokenizer and template.
  static func fineTuneInputs(in folder: String) async throws -> (
    model: String, sft: String, preference: String
  ) {
    let tokenizer = try tinyChatTokenizer()
    let model = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 64)
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let words = chatTrainingLines(count: 60)
    var sftLines = ""
    var pairLines = ""
    for index in stride(from: 0, to: 57, by: 3) {
      let (question, answer, other) = (words[index], words[index + 1], words[index + 2])
      sftLines += try jsonLine(["instruction": question, "input": "", "output": answer])
      pairLines += try jsonLine(["prompt": question, "chosen": answer, "rejected": other])
    }
    let sftFile = folder + "/sft.jsonl"
    let pairFile = folder + "/pairs.jsonl"
    try Data(sftLines.utf8).write(to: URL(fileURLWithPath: sftFile))
    try Data(pairLines.utf8).write(to: URL(fileURLWithPath: pairFile))
    var sftOptions = SFTOptions()
    sftOptions.maxLength = 64
    _ = try await SFTPipeline.run(
      inputs: [sftFile], renderer: renderer,
      tokenizerFile: ("tokenizer.model", tokenizer.modelBytes), output: folder + "/sft",
      options: sftOptions)
    var pairOptions = PreferenceOptions()
    pairOptions.maxLength = 64
    _ = try await PreferencePipeline.run(
      inputs: [pairFile], renderer: renderer,
      tokenizerFile: ("tokenizer.model", tokenizer.modelBytes), output: folder + "/pairs",
      options: pairOptions)
    return (model, folder + "/sft", folder + "/pairs")
  }

  static func jsonLine(_ object: [String: String]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self) + "\n"
  }

  @Test func fineTuningStagesRunFromAModelAndShardsWithoutTheCLI() async throws {
    let folder = try temporaryDirectory()
    let (model, sft, pairs) = try await Self.fineTuneInputs(in: folder)

    let sftRun = TrainingRun(directory: folder + "/sft-run", label: "sft")
    let sftResult = try #require(
      try sftRun.run(
        SFTStage(FineTuneInputs(model: model, data: sft, options: Self.options(steps: 2)))))
    #expect(sftResult.summary.progress.step == 2)
    let sftConfig = try Self.config(folder + "/sft-run")
    #expect(sftConfig["stage"] as? String == "sft")
    #expect(sftConfig["max_length"] as? Int == 64, "the model's context by default")
    #expect(sftConfig["data_samples"] as? Int == 19)
    let chatModel = folder + "/sft-run/model"
    #expect(try ModelDirectory(path: chatModel).loadChatTemplate() == .chatml)

    let rewardRun = TrainingRun(directory: folder + "/reward-run", label: "reward")
    try rewardRun.run(
      RewardStage(FineTuneInputs(model: chatModel, data: pairs, options: Self.options(steps: 2))))
    let rewardModel = try Self.config(folder + "/reward-run/model")
    #expect(rewardModel["architectures"] as? [String] == ["LlamaForSequenceClassification"])
    #expect(try Self.config(folder + "/reward-run")["data_pairs"] as? Int == 19)

    let dpoRun = TrainingRun(directory: folder + "/dpo-run", label: "dpo")
    let dpo = DPOStage(
      FineTuneInputs(model: chatModel, data: pairs, maxLength: 48, options: Self.options(steps: 2)),
      loss: DPOSettings.Options(beta: 0.25))
    let dpoResult = try #require(try dpoRun.run(dpo))
    let dpoConfig = try Self.config(folder + "/dpo-run")
    #expect(dpoConfig["beta"] as? Double == 0.25)
    #expect(dpoConfig["max_length"] as? Int == 48)
    #expect(dpoConfig["precompute_reference"] as? Bool == true)
    #expect(FileManager.default.fileExists(atPath: folder + "/dpo-run/reference_logps.safetensors"))
    #expect(dpoResult.json.contains("\"eval_reward_accuracy\""))
  }

  @Test func stagesTrainLoRAAdaptersWhenGivenARank() async throws {
    let folder = try temporaryDirectory()
    let (model, sft, pairs) = try await Self.fineTuneInputs(in: folder)
    let lora = LoRAOptions(rank: 4, targets: ["q_proj", "v_proj"])
    func inputs(_ data: String) -> FineTuneInputs {
      FineTuneInputs(model: model, data: data, options: Self.options(steps: 2), lora: lora)
    }

    let sftResult = try #require(
      try TrainingRun(directory: folder + "/sft-run", label: "sft").run(SFTStage(inputs(sft))))
    #expect(sftResult.modelPath == folder + "/sft-run/adapter")
    #expect(!FileManager.default.fileExists(atPath: folder + "/sft-run/model"))
    let stored = try RunConfiguration<SFTSettings>.read(folder + "/sft-run/config.json")
    #expect(stored.stage.data.lora?.rank == 4 && stored.stage.data.lora?.alpha == 8)
    let adapter = try LoRAModel(
      base: try Llama(directory: model), adapterDirectory: sftResult.modelPath)
    #expect(adapter.configuration.targets == ["q_proj", "v_proj"])
    #expect(try ModelDirectory(path: sftResult.modelPath).loadChatTemplate() == .chatml)

    let reward = try #require(
      try TrainingRun(directory: folder + "/reward-run", label: "reward").run(
        RewardStage(inputs(pairs))))
    #expect(reward.modelPath == folder + "/reward-run/adapter")
    let dpo = try #require(
      try TrainingRun(directory: folder + "/dpo-run", label: "dpo").run(DPOStage(inputs(pairs))))
    #expect(dpo.modelPath == folder + "/dpo-run/adapter")

    // Continued pretraining of the model, as adapters; without a model a rank is refused.
    _ = try writeDataset(
      patternDocuments(count: 60, vocabulary: 64), vocabulary: 64, into: folder + "/data")
    let pretrain = try #require(
      try TrainingRun(directory: folder + "/pretrain-run", label: "pretrain").run(
        PretrainStage(
          data: folder + "/data", model: model, sequenceLength: 16,
          options: Self.options(steps: 2), lora: lora)))
    #expect(pretrain.modelPath == folder + "/pretrain-run/adapter")
    let pretrainConfig = try RunConfiguration<PretrainSettings>.read(
      folder + "/pretrain-run/config.json")
    #expect(pretrainConfig.stage.lora?.rank == 4 && pretrainConfig.stage.baseModel != nil)
    let fresh = PretrainStage(
      data: folder + "/data", preset: "nano", options: Self.options(steps: 1), lora: lora)
    #expect(
      throws: TrainingRunError.setting(
        "--lora-rank", "needs --model (the pretrained base to adapt)")
    ) { try TrainingRun(directory: folder + "/fresh-run", label: "pretrain").run(fresh) }
  }
}
