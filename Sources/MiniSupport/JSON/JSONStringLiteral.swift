/// `text` as a JSON string literal with its quotes: `"` and `\` escaped, the usual short escapes
/// for `\n`, `\r`, `\t`, backspace and form feed, `\u00XX` for the other control characters, and
/// everything else written as it is (the output of serde_json and Python's
/// `json.dumps(ensure_ascii=False)`).
package func jsonStringLiteral(_ text: String) -> String {
  var result = "\""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": result += "\\\""
    case "\\": result += "\\\\"
    case "\n": result += "\\n"
    case "\r": result += "\\r"
    case "\t": result += "\\t"
    case "\u{8}": result += "\\b"
    case "\u{C}": result += "\\f"
    case _ where scalar.value < 0x20:
      let hex = String(scalar.value, radix: 16)
      result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
    default: result.unicodeScalars.append(scalar)
    }
  }
  return result + "\""
}
