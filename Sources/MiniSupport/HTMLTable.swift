/// `text` with the HTML special characters (`&`, `<`, `>`, `"`) escaped, for element content
/// and double-quoted attribute values.
package func htmlEscaped(_ text: String) -> String {
  var escaped = ""
  escaped.reserveCapacity(text.utf8.count)
  for character in text {
    switch character {
    case "&": escaped += "&amp;"
    case "<": escaped += "&lt;"
    case ">": escaped += "&gt;"
    case "\"": escaped += "&quot;"
    default: escaped.append(character)
    }
  }
  return escaped
}

/// An HTML `<table>` of plain-text cells, every cell escaped: the one table writer of the
/// project's pages (run reports, the demo's report, `minillm eval --table R.html`).
package struct HTMLTable: Sendable {
  /// One cell: text (escaped when written) and how it is shown.
  package struct Cell: Sendable, ExpressibleByStringLiteral {
    package var text: String
    /// Shown in italics (a reference row such as chance level).
    package var italic = false
    /// Right-aligned (numbers).
    package var numeric = false

    package init(_ text: String, italic: Bool = false, numeric: Bool = false) {
      self.text = text
      self.italic = italic
      self.numeric = numeric
    }

    package init(stringLiteral text: String) { self.init(text) }
  }

  /// Column headings.
  package var header: [String]
  /// Rows of cells; a short row is padded with empty cells.
  package var rows: [[Cell]] = []

  package init(header: [String], rows: [[Cell]] = []) {
    self.header = header
    self.rows = rows
  }

  /// The `<table>` element, one line a row.
  package func html() -> String {
    var html = "<table><tr>" + header.map { "<th>\(htmlEscaped($0))</th>" }.joined() + "</tr>\n"
    for row in rows {
      html += "<tr>"
      for index in 0..<max(row.count, header.count) {
        guard index < row.count else {
          html += "<td></td>"
          continue
        }
        let cell = row[index]
        var text = htmlEscaped(cell.text)
        if cell.italic { text = "<i>\(text)</i>" }
        html += cell.numeric ? "<td style=\"text-align:right\">\(text)</td>" : "<td>\(text)</td>"
      }
      html += "</tr>\n"
    }
    return html + "</table>\n"
  }
}
