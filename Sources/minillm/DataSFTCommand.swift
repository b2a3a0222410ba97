import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize

struct DataSFT: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sft",
    abstract: "Render SFT conversations into SFT shards (token ids and loss masks).",
    discussion: """
      Reads every SFT format (alpaca, sharegpt, minimind, firefly, moss, shareai; plain or .zst), \
      renders each conversation with the chat template and writes JSON lines \
      {"input_ids": [...], "loss_mask": [...]} to OUTPUT/shard-NNNNN.jsonl: the mask is 1 on \
      the assistant's replies and their end-of-turn token, 0 elsewhere. OUTPUT also gets \
      index.json (kept, truncated and dropped samples per reason, malformed records per \
      reason, sources, tokenizer SHA-256, the template), a copy of tokenizer.model and \
      tokenizer_config.json with the template as a Jinja chat_template.

      Self-cognition placeholders ({{name}}, <NAME>, [NAME], {{author}}, <AUTHOR>, <DATE>, …) \
      are filled from --name, --author and --date.
      """
  )

  @Option(help: "A folder holding tokenizer.model, or the .model file.")
  var tokenizer: String

  @Option(name: .long, parsing: .upToNextOption, help: "SFT corpus files (plain or .zst).")
  var input: [String]

  @Option(
    help:
      "Input format: auto (detect per file), alpaca, sharegpt, minimind, firefly, moss or shareai."
  )
  var format = "auto"

  @Option(
    help:
      "chatml, human-robot, or a JSON template spec file (see Docs/Formats.md); default: the chat template of --tokenizer's folder (its tokenizer_config.json), else chatml."
  )
  var template: String?

  @Option(help: "No sample is longer than this many tokens.")
  var maxLength = 512

  @Option(
    help:
      "Longer conversations: drop them, or truncate-history (keep the system prompt and the latest turns that fit)."
  )
  var overflow = SFTOverflowPolicy.drop

  @Option(help: "System prompt for records without their own.")
  var system: String?

  @Option(help: "Fills {{name}}, <NAME> and [NAME].")
  var name: String?

  @Option(help: "Fills {{author}}, <AUTHOR> and [AUTHOR].")
  var author: String?

  @Option(help: "Fills {{date}}, <DATE> and [DATE].")
  var date: String?

  @Option(help: "Output folder.")
  var output: String

  @Option(help: "Close a shard once it holds this many samples.")
  var shardSamples = 50_000

  @Option(help: "Fail when more than this fraction of records is malformed.")
  var maxBadFraction = 0.01

  @Flag(help: "Replace the shards of an existing OUTPUT.")
  var overwrite = false

  func validate() throws {
    try validateChatDataFlags(input: input, maxLength: maxLength, maxBadFraction: maxBadFraction)
    guard shardSamples >= 1 else { throw CommandLineError("--shard-samples: \(shardSamples) < 1") }
  }

  /// `--template`, else the template of a model folder given as `--tokenizer` (one whose
  /// `tokenizer_config.json` has a `chat_template`), else ChatML.
  func chatRenderer(tokenizer model: SentencePieceTokenizer) throws -> ChatRenderer {
    if let template { return try loadRenderer(template: template, tokenizer: model) }
    let folder = ModelDirectory(path: tokenizer)
    let config = folder.file("tokenizer_config.json")
    if let data = FileManager.default.contents(atPath: config),
      let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      object["chat_template"] != nil
    {
      do {
        return try ChatRenderer(template: try folder.loadChatTemplate(), tokenizer: model)
      } catch {
        throw CommandLineError("--tokenizer: \(error)")
      }
    }
    return try loadRenderer(template: "chatml", tokenizer: model)
  }

  func run() async throws {
    let model = try loadTokenizer(tokenizer)
    let renderer = try chatRenderer(tokenizer: model)
    var options = SFTOptions()
    options.format = try parseFormat(format)
    options.maxLength = maxLength
    options.overflow = overflow
    options.system = system
    options.placeholders = placeholders(name: name, author: author, date: date)
    options.samplesPerShard = shardSamples
    options.maximumBadFraction = maxBadFraction
    options.overwrite = overwrite
    let display = ChatDataProgressDisplay(label: "data sft")
    let index: SFTShardIndex
    do {
      index = try await SFTPipeline.run(
        inputs: input, renderer: renderer,
        tokenizerFile: ("tokenizer.model", model.modelBytes), output: output, options: options,
        progress: display.update)
    } catch {
      display.finish()
      logFailure(error)
      throw error
    }
    display.finish()
    logSources(index.sources, unit: "samples")
    let dropped = index.dropped.values.reduce(0, +)
    print(
      "wrote \(index.kept) samples (\(index.truncated) truncated, \(dropped) dropped), \(index.tokens) tokens, \(index.supervisedTokens) supervised, to \(output)"
    )
  }
}

/// The placeholder values given on the command line.
func placeholders(name: String?, author: String?, date: String?) -> [String: String] {
  var values: [String: String] = [:]
  values["name"] = name
  values["author"] = author
  values["date"] = date
  return values
}
