import Foundation

extension ManPage {
  /// Parses a man page's roff source (man or mdoc macros) into sections of prose.
  ///
  /// Macro definitions, conditionals, comments and layout requests are dropped; text macros
  /// (`.B`, `.IR`, `.Nm`, `.Fl`, …) keep their words; inline escapes become the characters they
  /// print. Filled text is joined into one line per paragraph (no space between two CJK
  /// characters), no-fill blocks (`.nf`, `.Vb`, `.CS`, `.Bd`) keep their lines.
  ///
  /// - Parameters:
  ///   - roff: The page's source text.
  ///   - name: The page's name (for `.Nm` without arguments).
  ///   - section: The manual section.
  public init(roff: String, name: String, section: String) {
    var parser = RoffParser(name: name)
    for line in roff.split(separator: "\n", omittingEmptySubsequences: false) {
      parser.consume(line.hasSuffix("\r") ? line.dropLast() : line)
    }
    self.init(name: name, section: section, sections: parser.finish())
  }
}

/// The line-by-line state of `ManPage.init(roff:name:section:)`.
struct RoffParser {
  let name: String
  var sections: [ManPage.Section] = []
  var current = ManPage.Section(heading: "", paragraphs: [])
  var paragraph = ""
  var inMacroDefinition = false
  var braceDepth = 0
  var noFill = false
  /// After `.TP`, the next text line is the tag: it gets a paragraph of its own.
  var tagLinePending = false

  init(name: String) { self.name = name }

  mutating func consume(_ line: Substring) {
    if inMacroDefinition {
      if line.hasPrefix("..") { inMacroDefinition = false }
      return
    }
    if braceDepth > 0 {
      braceDepth += Self.count("\\{", in: line) - Self.count("\\}", in: line)
      return
    }
    // A control line starts with `.` or `'`; some translations indent macros (`   .RE`), which
    // roff would print, so an indented `.XX` line counts as one too.
    let indented = line.drop { $0 == " " || $0 == "\t" }
    let isControl =
      line.first == "." || line.first == "'"
      || (indented.count < line.count && indented.first == "."
        && indented.dropFirst().prefix { $0 != " " }.allSatisfy { $0.isLetter && $0.isASCII }
        && (1...2).contains(indented.dropFirst().prefix { $0 != " " }.count))
    guard isControl else {
      text(line)
      return
    }
    let body = indented.dropFirst().drop { $0 == " " || $0 == "\t" }
    if body.hasPrefix("\\\"") || body.isEmpty { return }
    let request = body.prefix { $0 != " " && $0 != "\t" }
    var arguments = body.dropFirst(request.count).drop { $0 == " " || $0 == "\t" }
    if let comment = arguments.range(of: "\\\"") { arguments = arguments[..<comment.lowerBound] }
    control(String(request), arguments)
  }

  mutating func control(_ request: String, _ arguments: Substring) {
    switch request {
    case "de", "de1", "am", "ig", "dei", "ami":
      inMacroDefinition = true
    case "if", "ie", "el", "while":
      braceDepth = max(0, Self.count("\\{", in: arguments) - Self.count("\\}", in: arguments))
    case "SH", "SS", "Sh", "Ss":
      breakParagraph()
      if request == "SH" || request == "Sh" {
        finishSection()
        current.heading = Self.unquoted(RoffEscapes.plain(arguments))
      } else {
        let heading = Self.unquoted(RoffEscapes.plain(arguments))
        if !heading.isEmpty { current.paragraphs.append(heading) }
      }
    case "B", "I", "SM", "SB", "Em", "Sy", "Li", "Pa", "Ar", "Ic", "Cm", "Ev", "Va", "Dv", "Er",
      "Ql", "Fa", "Fn", "Ft", "Tn":
      if request.count == 1 || request == "SM" || request == "SB" {
        append(Self.words(arguments).joined(separator: " "))
      } else {
        append(mdoc(arguments, leading: request))
      }
    case "BR", "RB", "IR", "RI", "BI", "IB":
      append(Self.words(arguments).joined())
    case "Nm":
      let rest = mdoc(arguments, leading: "Nm")
      append(rest.isEmpty ? name : rest)
    case "Nd":
      append("- " + mdoc(arguments, leading: "Nd"))
    case "Fl", "Op", "Xr", "Dq", "Sq", "Qq", "Pq", "It", "D1", "Dl":
      if request == "It" || request == "D1" || request == "Dl" { breakParagraph() }
      append(mdoc(arguments, leading: request))
    case "IP", "TP", "HP", "PP", "LP", "P", "Pp", "sp", "br", "Sp", "Lp", "TQ", "ti", "in", "RS",
      "RE", "Bl", "El":
      breakParagraph()
      tagLinePending = request == "TP" || request == "TQ"
      if request == "IP" {
        let tag = Self.words(arguments).first.map(Self.unquoted) ?? ""
        if !tag.isEmpty { append(tag) }
      }
    case "nf", "Vb", "CS", "Bd", "EX":
      breakParagraph()
      noFill = true
    case "fi", "Ve", "CE", "Ed", "EE":
      breakParagraph()
      noFill = false
    default:
      break
    }
  }

  /// An mdoc line (`.Op Fl a Ar file`) as text: callable macros among the words are applied.
  func mdoc(_ arguments: Substring, leading: String) -> String {
    var output = ""
    var noSpace = false
    var closers: [String] = []
    func open(_ opener: String, _ closer: String) {
      output += (output.isEmpty || noSpace ? "" : " ") + opener
      noSpace = true
      closers.append(closer)
    }
    func word(_ text: String) {
      guard !text.isEmpty else { return }
      output += (output.isEmpty || noSpace ? "" : " ") + text
      noSpace = false
    }
    var pendingFlag = leading == "Fl"
    var pendingReference = leading == "Xr" ? [String]() : nil
    switch leading {
    case "Op": open("[", "]")
    case "Dq": open("“", "”")
    case "Sq": open("‘", "’")
    case "Qq": open("\"", "\"")
    case "Pq": open("(", ")")
    default: break
    }
    let words = Self.words(arguments)
    for raw in words {
      switch raw {
      case "Fl":
        pendingFlag = true
        continue
      case "Ns":
        noSpace = true
        continue
      case "Xr":
        pendingReference = []
        continue
      case "Op":
        open("[", "]")
        continue
      case "Dq":
        open("“", "”")
        continue
      case "Pq":
        open("(", ")")
        continue
      case "Nm":
        word(name)
        continue
      case "Ar", "Ic", "Cm", "Pa", "Em", "Sy", "Li", "Ql", "Va", "Ev", "Dv", "Er", "Fa", "No":
        continue
      default: break
      }
      if pendingFlag {
        word("-" + raw)
        pendingFlag = false
      } else if var reference = pendingReference {
        reference.append(raw)
        if reference.count == 2 {
          word("\(reference[0])(\(reference[1]))")
          pendingReference = nil
        } else {
          pendingReference = reference
        }
      } else if raw.count == 1, ".,;:)]?!".contains(raw) {
        output += raw
      } else {
        word(raw)
      }
    }
    if pendingFlag { word("-") }
    if let reference = pendingReference, let only = reference.first { word(only) }
    output += closers.reversed().joined()
    return output
  }

  mutating func text(_ line: Substring) {
    let plain = RoffEscapes.plain(line)
    if noFill {
      let trimmed = plain.trimmingCharacters(in: .whitespaces)
      if !trimmed.isEmpty { current.paragraphs.append(trimmed) }
      return
    }
    if plain.trimmingCharacters(in: .whitespaces).isEmpty {
      breakParagraph()
      return
    }
    if line.first == " " || line.first == "\t" { breakParagraph() }
    append(plain)
  }

  /// Adds text to the open paragraph: a space between two ASCII characters, none otherwise.
  mutating func append(_ piece: String) {
    let piece = piece.trimmingCharacters(in: .whitespaces)
    guard !piece.isEmpty else { return }
    if noFill {
      current.paragraphs.append(piece)
      return
    }
    if let last = paragraph.last, let first = piece.first, last.isASCII && first.isASCII {
      paragraph += " "
    }
    paragraph += piece
    if tagLinePending {
      breakParagraph()
      tagLinePending = false
    }
  }

  mutating func breakParagraph() {
    let text = paragraph.trimmingCharacters(in: .whitespaces)
    if !text.isEmpty { current.paragraphs.append(text) }
    paragraph = ""
  }

  mutating func finishSection() {
    if !current.paragraphs.isEmpty || !current.heading.isEmpty { sections.append(current) }
    current = ManPage.Section(heading: "", paragraphs: [])
  }

  mutating func finish() -> [ManPage.Section] {
    breakParagraph()
    finishSection()
    return sections.filter { !$0.paragraphs.isEmpty }
  }

  /// A macro line's arguments: words split at blanks, `"double quoted"` words kept whole,
  /// escapes resolved.
  static func words(_ arguments: Substring) -> [String] {
    var words: [String] = []
    var current = ""
    var quoted = false
    var started = false
    var characters = arguments.makeIterator()
    var previous: Character = " "
    while let c = characters.next() {
      if c == "\"" && previous != "\\" {
        if quoted {
          words.append(current)
          current = ""
          started = false
          quoted = false
        } else if !started {
          quoted = true
          started = true
        } else {
          current.append(c)
        }
      } else if (c == " " || c == "\t") && !quoted {
        if started { words.append(current) }
        current = ""
        started = false
      } else {
        current.append(c)
        started = true
      }
      previous = c
    }
    if started { words.append(current) }
    return words.map { RoffEscapes.plain(Substring($0)) }.filter { !$0.isEmpty }
  }

  static func unquoted(_ text: String) -> String {
    text.trimmingCharacters(in: .whitespaces.union(.init(charactersIn: "\"")))
  }

  static func count(_ needle: String, in text: Substring) -> Int {
    text.components(separatedBy: needle).count - 1
  }
}
