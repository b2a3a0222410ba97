import Foundation

/// A manual page turned from roff into prose.
public struct ManPage: Sendable, Hashable {
  /// One section: its heading (e.g. `描述 DESCRIPTION`) and its paragraphs.
  public struct Section: Sendable, Hashable {
    /// The heading, quotes removed.
    public var heading: String
    /// The paragraphs, each one line of prose (lines of no-fill blocks kept apart).
    public var paragraphs: [String]
  }

  /// The page's name from its file name, e.g. `ls` for `ls.1.gz`.
  public var name: String
  /// The manual section from its file name, e.g. `1` (`3tcl` for `puts.3tcl.gz`).
  public var section: String
  /// The sections in order.
  public var sections: [Section]

  /// Creates a page.
  public init(name: String, section: String, sections: [Section]) {
    self.name = name
    self.section = section
    self.sections = sections
  }

  /// The NAME section's text (`ls - 列出目录内容`), found under `NAME`, `名称`, `名字` or `命令名`.
  public var nameLine: String? {
    let headings = ["NAME", "名称", "名字", "命令名"]
    guard
      let section = sections.first(where: { section in
        headings.contains { section.heading.uppercased().contains($0) }
      })
    else { return nil }
    let text = section.paragraphs.joined(separator: " ").trimmingCharacters(in: .whitespaces)
    return text.isEmpty ? nil : text
  }

  /// The names and the one-line summary of the NAME section: `ls - 列出目录内容` gives
  /// `(["ls"], "列出目录内容")`. Nil when the section is missing or has no ` - ` separator.
  public var summary: (names: [String], description: String)? {
    guard let line = nameLine else { return nil }
    for separator in [" - ", " — ", " -- ", " – ", " －", "－"] {
      guard let range = line.range(of: separator) else { continue }
      let names = line[..<range.lowerBound].split(separator: ",").map {
        $0.trimmingCharacters(in: .whitespaces)
      }.filter { !$0.isEmpty }
      let description = line[range.upperBound...].trimmingCharacters(
        in: .whitespaces.union(.init(charactersIn: "-－—")))
      guard !names.isEmpty, !description.isEmpty else { return nil }
      return (names, description)
    }
    return nil
  }

  /// The page as one document: each heading on its own line followed by its paragraphs.
  public var document: String {
    var lines: [String] = []
    for section in sections where !section.paragraphs.isEmpty {
      if !section.heading.isEmpty { lines.append(section.heading) }
      lines.append(contentsOf: section.paragraphs)
    }
    return lines.joined(separator: "\n")
  }

  /// Splits a man page file name (`ls.1.gz`, `puts.3tcl.gz`) into its name and section.
  public static func nameAndSection(fileName: String) -> (name: String, section: String) {
    var base = Substring(fileName)
    if base.hasSuffix(".gz") { base = base.dropLast(3) }
    guard let dot = base.lastIndex(of: "."), dot != base.startIndex else {
      return (String(base), "")
    }
    return (String(base[..<dot]), String(base[base.index(after: dot)...]))
  }
}
