import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize

/// A bad flag, file or record: printed by ArgumentParser as one `Error: …` line, exit status 1.
struct CommandLineError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// Runs `body`, turning what it throws into one line naming `flag` (`--model: …`).
func flagged<T>(_ flag: String, _ body: () throws -> T) throws -> T {
  do {
    return try body()
  } catch {
    throw CommandLineError("\(flag): \(error)")
  }
}

/// Loads `--tokenizer PATH` (a folder holding tokenizer.model, or the .model file itself).
func loadTokenizer(_ path: String) throws -> SentencePieceTokenizer {
  try flagged("--tokenizer") { try SentencePieceTokenizer(contentsOf: path) }
}

/// Loads the `--tokenizer PATH` of a `data` command: a sentencepiece `.model` file, a
/// byte-level BPE `tokenizer.json`, a model folder (its `tokenizer.model`, else its
/// `tokenizer.json`), or a `.gguf` file (its vocabulary, written as `import gguf` writes it).
func loadDataTokenizer(_ path: String) throws -> StoredTokenizer {
  try flagged("--tokenizer") {
    let directory = ModelDirectory(path: path)
    if directory.isGGUFFile { return try directory.loadStoredTokenizer() }
    return try StoredTokenizer.read(path)
  }
}

/// Parses `--format auto|<format>`: nil for auto.
func parseFormat(_ text: String) throws -> CorpusFormat? {
  if text == "auto" { return nil }
  guard let format = CorpusFormat(rawValue: text) else {
    let names = CorpusFormat.allCases.map(\.rawValue).joined(separator: "|")
    throw CommandLineError("--format: '\(text)' is not auto|\(names)")
  }
  return format
}

/// Checks `--input`: at least one file, each readable.
func checkInputs(_ paths: [String]) throws {
  guard !paths.isEmpty else { throw CommandLineError("--input: give at least one file") }
  for path in paths where !FileManager.default.isReadableFile(atPath: path) {
    throw CommandLineError("--input: cannot read \(path)")
  }
}

/// The flags every `data` command ends with: how many malformed records fail the run, and
/// whether to replace OUTPUT.
struct DataLimitFlags: ParsableArguments {
  @Option(help: "Fail when more than this fraction of records is malformed.")
  var maxBadFraction = 0.01

  @Flag(help: "Replace the shards of an existing OUTPUT.")
  var overwrite = false

  func validate() throws {
    guard maxBadFraction >= 0 && maxBadFraction <= 1 else {
      throw CommandLineError("--max-bad-fraction: \(maxBadFraction) is not in [0, 1]")
    }
  }
}

/// Writes one line to stderr.
func printError(_ line: String) {
  FileHandle.standardError.write(Data((line + "\n").utf8))
}
