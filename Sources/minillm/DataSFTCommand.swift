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
      reason, sources, tokenizer SHA-256, the template), and the tokenizer files of a model \
      directory: tokenizer.model, tokenizer.json and tokenizer_config.json with the template \
      as a Jinja chat_template (for a byte-level BPE tokenizer: its tokenizer.json and \
      tokenizer_config.json).

      Self-cognition placeholders ({{name}}, <NAME>, [NAME], {{author}}, <AUTHOR>, <DATE>, …) \
      are filled from --name, --author and --date.
      """
  )

  @Option(
    help:
      "A tokenizer.model or byte-level BPE tokenizer.json, a model folder holding one, or a .gguf file."
  )
  var tokenizer: String

  @OptionGroup var data: ChatDataFlags<DataSFT>

  @Option(
    help:
      "Longer conversations: drop them, or truncate-history (keep the system prompt and the latest turns that fit)."
  )
  var overflow = SFTOverflowPolicy.drop

  @Option(help: "System prompt for records without their own.")
  var system: String?

  func run() async throws {
    let model = try loadDataTokenizer(tokenizer)
    // --template, else the template of a model folder given as --tokenizer (one whose
    // tokenizer_config.json has a chat_template) or of a GGUF file, else ChatML.
    let renderer = try data.renderer(tokenizer: model.tokenizer) {
      try modelTemplate(of: tokenizer)
    }
    var options = SFTOptions()
    try data.apply(to: &options)
    options.overflow = overflow
    options.system = system
    let index = try await data.run(sources: \.sources) { progress in
      try await SFTPipeline.run(
        inputs: data.input, renderer: renderer,
        tokenizerFile: (model.fileName, model.fileBytes), output: data.output,
        options: options, progress: progress)
    }
    let dropped = index.dropped.values.reduce(0, +)
    print(
      "wrote \(index.kept) samples (\(index.truncated) truncated, \(dropped) dropped), \(index.tokens) tokens, \(index.supervisedTokens) supervised, to \(data.output)"
    )
  }
}

extension DataSFT: ChatDataKind {
  static let label = "data sft"
  static let unit = "samples"
  static let inputHelp = "SFT corpus files (plain or .zst)."
  static let formatHelp =
    "Input format: auto (detect per file), alpaca, sharegpt, minimind, firefly, moss or shareai."
  static let templateHelp =
    "chatml, human-robot, or a JSON template spec file (see Docs/Formats.md); default: the chat template of --tokenizer's folder (its tokenizer_config.json), else chatml."
  static let maxLengthHelp = "No sample is longer than this many tokens."
}

/// The chat template of a model folder given as `--tokenizer` (when its
/// `tokenizer_config.json` has a `chat_template`) or of a GGUF file (when it has
/// `tokenizer.chat_template`), else `nil`.
func modelTemplate(of path: String) throws -> ChatTemplate? {
  let folder = ModelDirectory(path: path)
  if folder.isGGUFFile {
    guard (try? GGUFReader(path: path).value("tokenizer.chat_template")) != nil else { return nil }
  } else {
    guard folder.hasChatTemplate else { return nil }
  }
  return try flagged("--tokenizer") { try folder.loadChatTemplate() }
}
