/// roff's inline escapes (`\fB`, `\-`, `\(em`, `\*(lq`, `\s-1`, …) turned into plain text.
enum RoffEscapes {
  /// `line` with every escape replaced by the character it prints, or removed when it only
  /// changes the layout (fonts, sizes, motions, registers). A `\"` comment ends the line.
  static func plain(_ line: Substring) -> String {
    var output = ""
    var characters = Array(line)
    characters.append("\0")  // sentinel: reading past the end sees NUL
    var i = 0
    let end = characters.count - 1

    /// Reads a name after `\X`: `(ab`, `[long name]` or a single character.
    func readName() -> String {
      guard i < end else { return "" }
      switch characters[i] {
      case "(":
        let name = String(characters[min(i + 1, end)..<min(i + 3, end)])
        i = min(i + 3, end)
        return name
      case "[":
        var j = i + 1
        while j < end && characters[j] != "]" { j += 1 }
        let name = String(characters[(i + 1)..<j])
        i = min(j + 1, end)
        return name
      default:
        i += 1
        return String(characters[i - 1])
      }
    }

    /// Skips a delimited argument: `'…'` (any delimiter character).
    func skipDelimited() -> String {
      guard i < end else { return "" }
      let delimiter = characters[i]
      var j = i + 1
      while j < end && characters[j] != delimiter { j += 1 }
      let argument = String(characters[(i + 1)..<j])
      i = min(j + 1, end)
      return argument
    }

    while i < end {
      let c = characters[i]
      i += 1
      guard c == "\\" else {
        output.append(c)
        continue
      }
      guard i < end else { break }
      let e = characters[i]
      i += 1
      switch e {
      case "\"", "#":
        return output
      case "n":
        if characters[i] == "+" || characters[i] == "-" { i += 1 }
        _ = readName()
      case "f", "F", "m", "M", "g", "k", "Y", "V", "$":
        _ = readName()
      case "*":
        output += stringNames[readName()] ?? ""
      case "(", "[":
        i -= 1
        let name = readName()
        output += specialCharacter(name)
      case "C":
        output += specialCharacter(skipDelimited())
      case "s":
        if characters[i] == "+" || characters[i] == "-" { i += 1 }
        if characters[i] == "(" || characters[i] == "[" {
          _ = readName()
        } else if characters[i] == "'" {
          _ = skipDelimited()
        } else if characters[i].isNumber {
          let first = characters[i]
          i += 1
          if "123".contains(first) && characters[i].isNumber { i += 1 }
        }
      case "h", "v", "w", "l", "L", "o", "b", "x", "D", "X", "N", "Z", "R", "A", "B", "S", "H":
        _ = skipDelimited()
      case "e", "\\": output.append("\\")
      case "-": output.append("-")
      case ".": output.append(".")
      case "'": output.append("'")
      case "`": output.append("`")
      case " ", "~", "0", "t": output.append(" ")
      case "&", ")", ",", "/", "^", "|", "%", ":", "c", "d", "u", "p", "r", "a", "z", "{", "}",
        "\0":
        break
      default:
        output.append(e)
      }
    }
    return output
  }

  /// A named character (`\(em`, `\[lq]`, `\[u4E00]`); unknown names print nothing.
  static func specialCharacter(_ name: String) -> String {
    if let known = characterNames[name] { return known }
    if name.hasPrefix("u"), name.count >= 5, let value = UInt32(name.dropFirst(), radix: 16),
      let scalar = Unicode.Scalar(value)
    {
      return String(Character(scalar))
    }
    return ""
  }

  static let characterNames: [String: String] = [
    "em": "—", "en": "–", "hy": "-", "mi": "-", "aq": "'", "dq": "\"", "lq": "“", "rq": "”",
    "oq": "‘", "cq": "’", "bu": "•", "co": "©", "rg": "®", "tm": "™", "de": "°", "ti": "~",
    "ha": "^", "sl": "/", "rs": "\\", "ga": "`", "aa": "´", "ul": "_", "pl": "+", "mu": "×",
    "di": "÷", ">=": "≥", "<=": "≤", "!=": "≠", "->": "→", "<-": "←", "ba": "|", "br": "│",
    "or": "|", "sq": "□", "ci": "○", "fm": "′", "sc": "§", "lB": "[", "rB": "]", "lC": "{",
    "rC": "}", "la": "⟨", "ra": "⟩", "Fo": "«", "Fc": "»", "eq": "=", "**": "*", "at": "@",
    "sh": "#", "Do": "$", "ps": "¶", "dg": "†", "ct": "¢", "Po": "£", "Ye": "¥", "pc": "·",
    "12": "½", "14": "¼", "34": "¾", "+-": "±", "no": "¬", "if": "∞", "ss": "ß", "a-": "¯",
  ]

  /// Strings defined by the common man macro packages (`\*(lq`, pod2man's `\*(L"`, `\*R`).
  static let stringNames: [String: String] = [
    "lq": "“", "rq": "”", "L\"": "“", "R\"": "”", "R": "®", "Tm": "™", "C+": "C++", "--": "--",
    "PI": "π", "aq": "'", "C`": "“", "C'": "”", "Aq": "'", "Lq": "“", "Rq": "”",
  ]
}
