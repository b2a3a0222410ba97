import ArgumentParser
import Foundation
import MiniTokenize

struct DataCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "data",
    abstract: "Turn corpora into token shards, SFT shards and preference shards.",
    subcommands: [DataPretrain.self, DataSFT.self, DataDPO.self]
  )
}

struct DataPretrain: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pretrain",
    abstract: "Tokenise pretraining corpora into token shards on every core.",
    discussion: """
      Each document becomes its tokens followed by EOS; documents shorter than --min-tokens are
      dropped and counted. Malformed records are skipped and counted per reason in index.json; the
      run fails when more than --max-bad-fraction of them are bad. OUTPUT gets shard-NNNNN.bin,
      index.json and a copy of the tokenizer: tokenizer.model, or a byte-level BPE tokenizer.json
      with its tokenizer_config.json (from a tokenizer.json, a model folder that has no
      tokenizer.model, or a GGUF file with a gpt2 vocabulary). Re-running on the same inputs gives
      identical files.
      """
  )

  @Option(
    help:
      "A tokenizer.model or byte-level BPE tokenizer.json, a model folder holding one, or a .gguf file."
  )
  var tokenizer: String

  @Option(name: .long, parsing: .upToNextOption, help: "Corpus files (plain or .zst).")
  var input: [String]

  @Option(help: "Input format: auto (detect per file), txt, jsonl, json, wiki-cn, baike or wudao.")
  var format = "auto"

  @Option(
    help: ArgumentHelp(
      "The field holding each document's text in JSON records and Parquet rows (default: text).",
      discussion:
        "With it, a record file is read as jsonl/json documents; a record or file without the "
        + "field, or with a non-string value, is an error naming the file and the column."))
  var textColumn: String?

  @Option(help: "Output folder.")
  var output: String

  @Option(
    help:
      "Drop documents with fewer tokens than this, EOS included (baby-llama2-chinese keeps > 5).")
  var minTokens = 6

  @Option(help: "Close a shard once it holds this many tokens.")
  var shardTokens = 100_000_000

  @OptionGroup var limits: DataLimitFlags

  func validate() throws {
    try checkInputs(input)
    if let textColumn, textColumn.isEmpty { throw CommandLineError("--text-column: empty name") }
    guard minTokens >= 1 else { throw CommandLineError("--min-tokens: \(minTokens) < 1") }
    guard shardTokens >= 1 else { throw CommandLineError("--shard-tokens: \(shardTokens) < 1") }
  }

  func run() async throws {
    let model = try loadDataTokenizer(tokenizer)
    var options = PretrainOptions()
    options.format = try parseFormat(format)
    options.textColumn = textColumn
    options.minimumDocumentTokens = minTokens
    options.shardTokenLimit = shardTokens
    options.maximumBadFraction = limits.maxBadFraction
    options.overwrite = limits.overwrite
    let index = try await runPretrain(
      inputs: input, tokenizer: model, output: output, options: options, label: "data pretrain")
    print(
      "wrote \(index.shards.count) shard(s), \(index.totalDocuments) documents, \(index.totalTokens) tokens to \(output)"
    )
  }
}

/// Runs the pipeline with a progress display on stderr and logs each source's rejections.
func runPretrain(
  inputs: [String], tokenizer: SentencePieceTokenizer, output: String, options: PretrainOptions,
  label: String
) async throws -> TokenShardIndex {
  try await runPretrain(
    inputs: inputs, tokenizer: StoredTokenizer(sentencePiece: tokenizer), output: output,
    options: options, label: label)
}

/// Runs the pipeline with `tokenizer`'s file copied beside the shards (a byte-level BPE
/// `tokenizer.json` with its `tokenizer_config.json`, so the folder reads back as a tokenizer).
func runPretrain(
  inputs: [String], tokenizer: StoredTokenizer, output: String, options: PretrainOptions,
  label: String
) async throws -> TokenShardIndex {
  let index = try await ProgressDisplay<PretrainProgress>.run(
    label: label, failure: { ($0 as? PretrainError)?.rejectionLines },
    report: {
      $0.sources.flatMap { $0.reportLines(minimumDocumentTokens: options.minimumDocumentTokens) }
    }
  ) { progress in
    try await PretrainPipeline.run(
      inputs: inputs, tokenizer: tokenizer.tokenizer,
      tokenizerFile: (tokenizer.fileName, tokenizer.fileBytes),
      output: output, options: options, progress: progress)
  }
  if tokenizer.sentencePiece == nil {
    try tokenizer.write(toDirectory: output, renderer: nil, modelMaxLength: 1 << 30)
  }
  return index
}
