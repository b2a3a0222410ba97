import Foundation

/// A classical poem from a `fortunes-zh` collection (`tang300`, `song100`).
public struct Poem: Sendable, Hashable, Codable {
  /// The collection it came from, e.g. `tang300`.
  public var collection: String
  /// The title without its 《》 marks, e.g. `夜思`.
  public var title: String
  /// The poet, without life dates, e.g. `李白`.
  public var author: String
  /// The body's non-empty lines, trimmed (sub-titles such as `其一` included).
  public var lines: [String]

  /// Creates a poem.
  public init(collection: String, title: String, author: String, lines: [String]) {
    self.collection = collection
    self.title = title
    self.author = author
    self.lines = lines
  }

  /// Lines of verse: those ending in sentence punctuation (so sub-titles are left out).
  public var verses: [String] {
    lines.filter { line in line.last.map { Poem.verseEnds.contains($0) } ?? false }
  }

  /// The body, one line per line.
  public var body: String { lines.joined(separator: "\n") }

  /// The poem as a document: title, author, body.
  public var document: String { "《\(title)》\n作者：\(author)\n\(body)" }

  static let verseEnds: Set<Character> = ["。", "？", "！", "；", "，", "：", "、"]

  /// Parses one fortune record: a `《title》` line (optionally after `题目:`), an `作者：` line,
  /// then the body. Returns nil when the record has no such title or author line, or no verse.
  public init?(record: String, collection: String) {
    let lines = record.split(separator: "\n").map {
      $0.trimmingCharacters(in: .whitespaces.union(.init(charactersIn: "\u{3000}")))
    }.filter { !$0.isEmpty }
    guard lines.count >= 3,
      let open = lines[0].firstIndex(of: "《"),
      let close = lines[0][open...].firstIndex(of: "》")
    else { return nil }
    let title = String(lines[0][lines[0].index(after: open)..<close])
    var authorLine = Substring(lines[1])
    guard authorLine.hasPrefix("作者") else { return nil }
    authorLine = authorLine.dropFirst(2).drop { $0 == "：" || $0 == ":" || $0 == " " }
    if let dates = authorLine.firstIndex(where: { $0 == "（" || $0 == "(" }) {
      authorLine = authorLine[..<dates]
    }
    let author = authorLine.trimmingCharacters(in: .whitespaces)
    guard !title.isEmpty, !author.isEmpty else { return nil }
    self.init(
      collection: collection, title: title, author: author, lines: Array(lines[2...]))
    guard !verses.isEmpty else { return nil }
  }
}
