import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain

struct ScoreCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "score",
    abstract: "Print a reward model's rewards as JSON lines.",
    discussion: """
      With --data DIR (preference shards made by `minillm data dpo` with the reward model's \
      tokenizer): one line per pair {"pair", "chosen", "rejected", "margin"}, then \
      {"pairs", "accuracy", "mean_margin"}. With --prompt and one or more --response: the \
      conversation (optional --system, the prompt as the user's message, the response as the \
      assistant's reply) is rendered with the model's chat template and each response gets \
      {"response", "reward"}.
      """)

  @Option(help: "Reward model directory (RUN/model of `minillm reward`).")
  var model: String

  @Option(help: "Preference shard folder to score.")
  var data: String?

  @Option(help: "The user's message.")
  var prompt: String?

  @Option(parsing: .singleValue, help: "A reply to score (repeat for several).")
  var response: [String] = []

  @Option(help: "System prompt for --prompt.")
  var system: String?

  @Option(help: "chatml, human-robot or a JSON spec (default: the model's tokenizer_config.json).")
  var template: String?

  @Option(help: "Pairs (or responses) per forward.")
  var batchSize = 8

  @OptionGroup var threads: ThreadOptions

  func validate() throws {
    if (data == nil) == (prompt == nil) {
      throw ValidationError("give either --data or --prompt with --response")
    }
    if prompt != nil && response.isEmpty {
      throw ValidationError("--response: give at least one reply to score with --prompt")
    }
    if data != nil && !response.isEmpty {
      throw ValidationError("--response: goes with --prompt, not --data")
    }
    guard batchSize >= 1 else { throw ValidationError("--batch-size: must be ≥ 1") }
  }

  func run() throws {
    try threads.apply()
    let rewardModel = try flagged("--model") { try RewardModel(directory: model) }
    if let data {
      try scorePairs(rewardModel, data: data)
    } else if let prompt {
      try scoreResponses(rewardModel, prompt: prompt)
    }
  }

  func scorePairs(_ rewardModel: RewardModel, data: String) throws {
    let (scores, excluded) = try rewardModel.scores(
      ofPairsIn: data, directory: ModelDirectory(path: model), batchSize: batchSize)
    if excluded > 0 {
      printError(
        "[score] \(excluded) pairs are longer than the model's "
          + "max_position_embeddings \(rewardModel.config.maxPositions) and not scored")
    }
    for (pair, chosen, rejected) in scores {
      try printJSON(
        ["pair": pair, "chosen": chosen, "rejected": rejected, "margin": chosen - rejected],
        escapingSlashes: false)
    }
    let count = Double(max(1, scores.count))
    try printJSON(
      [
        "pairs": scores.count,
        "accuracy": Double(scores.filter { $0.chosen > $0.rejected }.count) / count,
        "mean_margin": scores.map { $0.chosen - $0.rejected }.reduce(0, +) / count,
      ], escapingSlashes: false)
  }

  func scoreResponses(_ rewardModel: RewardModel, prompt: String) throws {
    let directory = ModelDirectory(path: model)
    let tokenizer: any Tokenizer
    let chatTemplate: ChatTemplate
    do {
      tokenizer = try directory.loadStoredTokenizer().tokenizer
      chatTemplate = try template.map { try ChatTemplate.named($0) } ?? directory.loadChatTemplate()
    } catch let error as ChatTemplateError {
      throw CommandLineError("--template: \(error)")
    } catch {
      throw CommandLineError("--model: \(error)")
    }
    let renderer = try flagged("--template") {
      try ChatRenderer(template: chatTemplate, tokenizer: tokenizer)
    }
    let rewards = try rewardModel.scores(
      ofResponses: response, to: prompt, system: system, renderer: renderer, batchSize: batchSize)
    for (reply, reward) in zip(response, rewards) {
      try printJSON(["response": reply, "reward": Double(reward)], escapingSlashes: false)
    }
  }
}
