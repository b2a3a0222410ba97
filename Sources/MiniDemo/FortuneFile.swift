import Foundation
import MiniTokenize

/// A `fortune` data file: records separated by lines holding a single `%`.
public enum FortuneFile {
  /// Splits a fortune file's text into its records, with terminal colour codes removed and the
  /// surrounding blank lines trimmed; empty records are dropped.
  public static func records(in text: String) -> [String] {
    var records: [String] = []
    var current: [Substring] = []
    func flush() {
      let record = TerminalText.stripped(current.joined(separator: "\n"))
        .trimmingCharacters(in: .newlines)
      if !record.trimmingCharacters(in: .whitespaces).isEmpty { records.append(record) }
      current.removeAll()
    }
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      let line = line.hasSuffix("\r") ? line.dropLast() : line
      if line == "%" { flush() } else { current.append(line) }
    }
    flush()
    return records
  }

  /// Reads the records of the fortune file at `path` (plain or gzip).
  ///
  /// - Throws: `InputError` naming `path` when it cannot be read or is not UTF-8.
  public static func read(path: String) throws -> [String] {
    records(in: try Gzip.readText(atPath: path))
  }
}

/// Text meant for a terminal, made plain.
public enum TerminalText {
  /// `text` without ANSI escape sequences (colours, cursor movement: `ESC [ … final`, and
  /// two-character `ESC x` sequences).
  public static func stripped(_ text: String) -> String {
    guard text.unicodeScalars.contains("\u{1B}") else { return text }
    var result = String.UnicodeScalarView()
    var scalars = text.unicodeScalars.makeIterator()
    while let scalar = scalars.next() {
      guard scalar == "\u{1B}" else {
        result.append(scalar)
        continue
      }
      guard let kind = scalars.next() else { break }
      if "()*+".unicodeScalars.contains(kind) {
        _ = scalars.next()  // character set designation: ESC ( B
        continue
      }
      guard kind == "[" else { continue }
      // Control sequence: parameter and intermediate bytes, then one final byte in @…~.
      while let byte = scalars.next(), !(0x40...0x7E).contains(byte.value) {}
    }
    return String(result)
  }

  /// `text` with box-drawing tables turned into plain rows: box-drawing characters
  /// (U+2500–U+257F) and no-break spaces become spaces, runs of spaces shrink to one, lines are
  /// trimmed, lines left empty by a table border are dropped, and blank lines never repeat.
  public static func tidied(_ text: String) -> String {
    var lines: [String] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
      var hadBox = false
      var plain = String.UnicodeScalarView()
      var lastWasSpace = true
      for scalar in line.unicodeScalars {
        var scalar = scalar
        if (0x2500...0x257F).contains(scalar.value) {
          hadBox = true
          scalar = " "
        } else if scalar == "\u{A0}" || scalar == "\t" {
          scalar = " "
        }
        if scalar == " " {
          if lastWasSpace { continue }
          lastWasSpace = true
        } else {
          lastWasSpace = false
        }
        plain.append(scalar)
      }
      let trimmed = String(plain).trimmingCharacters(in: .whitespaces)
      if trimmed.isEmpty {
        if hadBox || lines.last?.isEmpty != false { continue }
      }
      lines.append(trimmed)
    }
    while lines.last?.isEmpty == true { lines.removeLast() }
    return lines.joined(separator: "\n")
  }
}
