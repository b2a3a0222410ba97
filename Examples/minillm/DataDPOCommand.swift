import ArgumentParser
import Foundation
import MiniTokenize

struct DataDPO: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dpo",
    abstract: "Render preference pairs into preference shards (prompt, chosen and rejected ids).",
    discussion: """
      Reads every preference format (dpo prompt/chosen/rejected, sharegpt-dpo, hh-rlhf-cn, \
      cvalues, tsv; plain or .zst) and writes JSON lines \
      {"prompt_ids": [...], "chosen_ids": [...], "rejected_ids": [...]} to \
      OUTPUT/shard-NNNNN.jsonl. The prompt is the conversation so far rendered with the chat \
      template, ending with the assistant's prefix; each reply is its tokens plus the \
      end-of-turn token. When the prompt and the longer reply exceed --max-length, the prompt's \
      oldest turns are dropped (the system prompt and the last user turn stay); pairs that \
      still do not fit are dropped and counted in index.json. OUTPUT also gets a copy of \
      tokenizer.model and tokenizer_config.json.
      """
  )

  @Option(help: "A folder holding tokenizer.model, or the .model file.")
  var tokenizer: String

  @Option(name: .long, parsing: .upToNextOption, help: "Preference corpus files (plain or .zst).")
  var input: [String]

  @Option(
    help: "Input format: auto (detect per file), dpo, sharegpt-dpo, hh-rlhf-cn, cvalues or tsv.")
  var format = "auto"

  @Option(help: "chatml, human-robot, or a JSON template spec file (see Docs/Formats.md).")
  var template = "chatml"

  @Option(help: "The prompt plus the longer reply never exceed this many tokens.")
  var maxLength = 512

  @Option(help: "Fills {{name}}, <NAME> and [NAME].")
  var name: String?

  @Option(help: "Fills {{author}}, <AUTHOR> and [AUTHOR].")
  var author: String?

  @Option(help: "Fills {{date}}, <DATE> and [DATE].")
  var date: String?

  @Option(help: "Output folder.")
  var output: String

  @Option(help: "Close a shard once it holds this many pairs.")
  var shardSamples = 50_000

  @Option(help: "Fail when more than this fraction of records is malformed.")
  var maxBadFraction = 0.01

  @Flag(help: "Replace the shards of an existing OUTPUT.")
  var overwrite = false

  func validate() throws {
    try validateChatDataFlags(input: input, maxLength: maxLength, maxBadFraction: maxBadFraction)
    guard shardSamples >= 1 else { throw CommandLineError("--shard-samples: \(shardSamples) < 1") }
  }

  func run() async throws {
    let model = try loadTokenizer(tokenizer)
    let renderer = try loadRenderer(template: template, tokenizer: model)
    var options = PreferenceOptions()
    options.format = try parseFormat(format)
    options.maxLength = maxLength
    options.placeholders = placeholders(name: name, author: author, date: date)
    options.samplesPerShard = shardSamples
    options.maximumBadFraction = maxBadFraction
    options.overwrite = overwrite
    let display = ChatDataProgressDisplay(label: "data dpo")
    let index: PreferenceShardIndex
    do {
      index = try await PreferencePipeline.run(
        inputs: input, renderer: renderer,
        tokenizerFile: ("tokenizer.model", model.modelBytes), output: output, options: options,
        progress: display.update)
    } catch {
      display.finish()
      logFailure(error)
      throw error
    }
    display.finish()
    logSources(index.sources, unit: "pairs")
    let dropped = index.dropped.values.reduce(0, +)
    print(
      "wrote \(index.kept) pairs (\(index.truncated) with truncated prompts, \(dropped) dropped), \(index.promptTokens + index.chosenTokens + index.rejectedTokens) tokens, to \(output)"
    )
  }
}
