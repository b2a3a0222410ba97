import Foundation
import MiniTokenize

/// A bad flag, file or record: printed by ArgumentParser as one `Error: …` line, exit status 1.
struct CommandLineError: Error, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// Loads `--tokenizer PATH` (a folder holding tokenizer.model, or the .model file itself).
func loadTokenizer(_ path: String) throws -> SentencePieceTokenizer {
  do {
    return try SentencePieceTokenizer(contentsOf: path)
  } catch {
    throw CommandLineError("--tokenizer: \(error)")
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

/// Writes one line to stderr.
func printError(_ line: String) {
  FileHandle.standardError.write(Data((line + "\n").utf8))
}
