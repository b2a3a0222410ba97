import ArgumentParser
import Foundation
import MiniTensor
import MiniTokenize

struct TokenizerCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tokenizer",
    abstract: "Train a sentencepiece tokenizer, or encode and decode with one.",
    subcommands: [TokenizerTrain.self, TokenizerEncode.self, TokenizerDecode.self]
  )
}

extension SentencePieceTrainingOptions.ModelType: ExpressibleByArgument {}
extension CorpusFormat: ExpressibleByArgument {}

struct TokenizerTrain: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract:
      "Train a BPE or unigram sentencepiece model (byte fallback, split digits, identity normalisation).",
    discussion: """
      Reads every input in any corpus format (plain or .zst); documents, messages and replies are
      split into lines, and each non-empty line is one training sentence. Writes
      OUTPUT/tokenizer.model and OUTPUT/tokenizer.vocab.
      """
  )

  @Option(
    name: .long, parsing: .upToNextOption,
    help: "Corpus files (any format of `data pretrain|sft|dpo`).")
  var input: [String]

  @Option(help: "Number of pieces, including specials and the 256 byte pieces.")
  var vocabSize: Int

  @Option(help: "bpe or unigram.")
  var modelType: SentencePieceTrainingOptions.ModelType = .bpe

  @Option(
    name: .long, parsing: .upToNextOption,
    help: "User-defined special tokens kept whole, e.g. <|im_start|> <|im_end|>.")
  var special: [String] = []

  @Option(help: "Output folder.")
  var output: String

  @Option(help: "Input format: auto, or one of the corpus formats.")
  var format = "auto"

  @Option(
    help: "The field holding each document's text in JSON records and Parquet rows (default: text)."
  )
  var textColumn: String?

  @Option(help: "Fraction of characters the vocabulary must cover; the rest fall back to bytes.")
  var characterCoverage = 0.9995

  @Option(help: "Train on a random sample of at most this many sentences (0: all).")
  var inputSentenceSize = 0

  @Option(help: "Sentences longer than this many bytes are skipped.")
  var maxSentenceLength = 16384

  @Flag(help: "Encode unknown characters as <unk> instead of byte pieces.")
  var noByteFallback = false

  @Flag(help: "Keep runs of digits together instead of one piece per digit.")
  var noSplitDigits = false

  @Flag(help: "Prepend ▁ to every text before encoding (sentencepiece's default).")
  var addDummyPrefix = false

  @Option(help: "Trainer threads.")
  var threads = 2

  @Option(help: "Seed of sentencepiece's sampling.")
  var seed: UInt32 = 0

  @Flag(help: "Show sentencepiece's training log.")
  var verbose = false

  @Flag(help: "Replace an existing OUTPUT/tokenizer.model.")
  var overwrite = false

  func validate() throws {
    guard !input.isEmpty else { throw CommandLineError("--input: give at least one file") }
    guard vocabSize > 0 else {
      throw CommandLineError("--vocab-size: \(vocabSize) is not positive")
    }
    guard characterCoverage > 0 && characterCoverage <= 1 else {
      throw CommandLineError("--character-coverage: \(characterCoverage) is not in (0, 1]")
    }
    guard threads > 0 && threads <= maximumThreadCount else {
      throw CommandLineError("--threads: \(threads) is not in 1...\(maximumThreadCount)")
    }
    guard vocabSize <= Int(Int32.max) else {
      throw CommandLineError("--vocab-size: \(vocabSize) is too large")
    }
    for path in input where !FileManager.default.isReadableFile(atPath: path) {
      throw CommandLineError("--input: cannot read \(path)")
    }
  }

  func run() throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory),
      !isDirectory.boolValue
    {
      throw CommandLineError("--output: \(output) exists and is not a folder (give a folder path)")
    }
    let modelPath = (output as NSString).appendingPathComponent("tokenizer.model")
    if FileManager.default.fileExists(atPath: modelPath) && !overwrite {
      throw CommandLineError("--output: \(modelPath) exists (pass --overwrite to replace it)")
    }
    var options = SentencePieceTrainingOptions(vocabularySize: vocabSize, modelType: modelType)
    options.userDefinedSymbols = special
    options.characterCoverage = characterCoverage
    options.inputSentenceSize = inputSentenceSize
    options.maxSentenceLength = maxSentenceLength
    options.byteFallback = !noByteFallback
    options.splitDigits = !noSplitDigits
    options.addDummyPrefix = addDummyPrefix
    options.threads = threads
    options.seed = seed
    options.verbose = verbose

    var sentences = TrainingSentences(
      paths: input, format: try parseFormat(format), textColumn: textColumn)
    let started = Date()
    let tokenizer = try SentencePieceTokenizer.train(options: options) { try sentences.next() }
    for statistics in sentences.finished where statistics.rejectedCount > 0 {
      for line in statistics.rejectionLines { printError(line) }
    }
    do {
      try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    } catch {
      throw CommandLineError(
        "--output: cannot create the folder \(output): \(error.localizedDescription)")
    }
    try tokenizer.write(to: modelPath)
    try tokenizer.writeVocabulary(
      to: (output as NSString).appendingPathComponent("tokenizer.vocab"))
    print(
      "trained \(modelType.rawValue) tokenizer: \(tokenizer.vocabularySize) pieces from "
        + "\(sentences.count) sentences in \(String(format: "%.1f", Date().timeIntervalSince(started))) s"
    )
    print("wrote \(modelPath) (sha256 \(tokenizer.sha256))")
  }
}

struct TokenizerEncode: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "encode", abstract: "Print the ids (or pieces) of a text.")

  @Option(help: "A folder holding tokenizer.model, or the .model file.")
  var tokenizer: String

  @Option(help: "The text to encode.")
  var text: String

  @Option(help: "ids (comma-separated), pieces (space-separated) or json.")
  var format: OutputFormat = .ids

  @Flag(help: "Print pieces instead of ids (same as --format pieces).")
  var pieces = false

  enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case ids, pieces, json
  }

  func run() throws {
    let model = try loadTokenizer(tokenizer)
    let ids = try model.encode(text)
    switch pieces ? .pieces : format {
    case .ids: print(ids.map(String.init).joined(separator: ","))
    case .pieces: print(try model.encodeAsPieces(text).joined(separator: " "))
    case .json:
      let object: [String: Any] = ["ids": ids, "pieces": try model.encodeAsPieces(text)]
      try printJSON(object, escapingSlashes: false)
    }
  }
}

struct TokenizerDecode: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "decode", abstract: "Print the text of comma-separated ids.")

  @Option(help: "A folder holding tokenizer.model, or the .model file.")
  var tokenizer: String

  @Option(help: "Comma-separated ids, e.g. 1,2,3.")
  var ids: String

  func run() throws {
    let model = try loadTokenizer(tokenizer)
    var values: [Int] = []
    for part in ids.split(separator: ",", omittingEmptySubsequences: false) {
      let trimmed = part.trimmingCharacters(in: .whitespaces)
      guard let id = Int(trimmed) else {
        throw CommandLineError("--ids: '\(part)' is not an integer")
      }
      values.append(id)
    }
    do {
      print(try model.decode(values))
    } catch let error as TokenizerError {
      throw CommandLineError("--ids: \(error)")
    }
  }
}
