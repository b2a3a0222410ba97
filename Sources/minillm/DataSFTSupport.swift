import ArgumentParser
import Foundation
import MiniTokenize

extension SFTOverflowPolicy: ExpressibleByArgument {}

/// The wording of the flags `data sft` and `data dpo` share.
protocol ChatDataKind {
  /// The command's label in progress lines (`data sft`).
  static var label: String { get }
  /// What a sample is (`samples`, `pairs`).
  static var unit: String { get }
  static var inputHelp: String { get }
  static var formatHelp: String { get }
  static var templateHelp: String { get }
  static var maxLengthHelp: String { get }
}

/// The flags `data sft` and `data dpo` share: inputs, format, template, length, placeholders,
/// output and limits.
struct ChatDataFlags<Kind: ChatDataKind>: ParsableArguments {
  @Option(name: .long, parsing: .upToNextOption, help: ArgumentHelp(Kind.inputHelp))
  var input: [String]

  @Option(help: ArgumentHelp(Kind.formatHelp))
  var format = "auto"

  @Option(help: ArgumentHelp(Kind.templateHelp))
  var template: String?

  @Option(help: ArgumentHelp(Kind.maxLengthHelp))
  var maxLength = 512

  @Option(help: "Fills {{name}}, <NAME> and [NAME].")
  var name: String?

  @Option(help: "Fills {{author}}, <AUTHOR> and [AUTHOR].")
  var author: String?

  @Option(help: "Fills {{date}}, <DATE> and [DATE].")
  var date: String?

  @Option(help: "Output folder.")
  var output: String

  @Option(help: "Close a shard once it holds this many \(Kind.unit).")
  var shardSamples = 50_000

  @OptionGroup var limits: DataLimitFlags

  func validate() throws {
    try checkInputs(input)
    guard maxLength >= 2 else { throw CommandLineError("--max-length: \(maxLength) < 2") }
    guard shardSamples >= 1 else { throw CommandLineError("--shard-samples: \(shardSamples) < 1") }
  }

  /// Sets the shared settings of a pipeline's options from the flags.
  func apply<Options: ChatDataOptions>(to options: inout Options) throws {
    options.format = try parseFormat(format)
    options.maxLength = maxLength
    var values: [String: String] = [:]
    values["name"] = name
    values["author"] = author
    values["date"] = date
    options.placeholders = values
    options.samplesPerShard = shardSamples
    options.maximumBadFraction = limits.maxBadFraction
    options.overwrite = limits.overwrite
  }

  /// `--template` bound to `tokenizer`, else the template `fallback` gives (a model folder's),
  /// else ChatML.
  func renderer(
    tokenizer: any Tokenizer, fallback: (() throws -> ChatTemplate?)? = nil
  ) throws -> ChatRenderer {
    if template == nil, let fallback, let own = try fallback() {
      return try ChatRenderer(template: own, tokenizer: tokenizer)
    }
    do {
      return try ChatRenderer(
        template: try ChatTemplate.named(template ?? "chatml"), tokenizer: tokenizer)
    } catch let error as ChatTemplateError {
      throw CommandLineError("--template: \(error)")
    }
  }

  /// Runs a pipeline with its progress on stderr, then logs what each source dropped.
  func run<Index>(
    sources: (Index) -> [ChatDataSource],
    _ pipeline: ((ChatDataProgress) -> Void) async throws -> Index
  ) async throws -> Index {
    try await ProgressDisplay<ChatDataProgress>.run(
      label: Kind.label, failure: { ($0 as? ChatDataError)?.rejectionLines },
      report: { sources($0).flatMap { $0.reportLines(unit: Kind.unit) } }, pipeline)
  }
}
