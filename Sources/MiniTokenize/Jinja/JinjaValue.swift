/// A value inside a Jinja template: what the context holds and expressions compute.
public enum JinjaValue: Sendable, Equatable {
  case undefined
  case none
  case bool(Bool)
  case int(Int)
  case string(String)
  case array([JinjaValue])
  /// Members in insertion order (as Python dicts keep them).
  case object([(String, JinjaValue)])
  /// A `namespace(...)`: members that `set ns.name = …` changes.
  case namespace(JinjaNamespace)

  public static func == (lhs: JinjaValue, rhs: JinjaValue) -> Bool {
    switch (lhs, rhs) {
    case (.undefined, .undefined), (.none, .none): return true
    case (.bool(let a), .bool(let b)): return a == b
    case (.int(let a), .int(let b)): return a == b
    case (.bool(let a), .int(let b)), (.int(let b), .bool(let a)): return (a ? 1 : 0) == b
    case (.string(let a), .string(let b)): return a == b
    case (.array(let a), .array(let b)): return a == b
    case (.object(let a), .object(let b)):
      return a.count == b.count
        && a.allSatisfy { key, value in b.contains { $0 == key && $1 == value } }
    case (.namespace(let a), .namespace(let b)): return a === b
    default: return false
    }
  }

  /// The member `key` of an object or namespace, else undefined.
  subscript(key: String) -> JinjaValue {
    switch self {
    case .object(let members): return members.first { $0.0 == key }?.1 ?? .undefined
    case .namespace(let space): return space.members[key] ?? .undefined
    default: return .undefined
    }
  }

  /// Python truthiness.
  var isTruthy: Bool {
    switch self {
    case .undefined, .none: return false
    case .bool(let value): return value
    case .int(let value): return value != 0
    case .string(let text): return !text.isEmpty
    case .array(let items): return !items.isEmpty
    case .object(let members): return !members.isEmpty
    case .namespace: return true
    }
  }

  /// The text `{{ value }}` writes (Python's `str`).
  var text: String {
    switch self {
    case .undefined: return ""
    case .none: return "None"
    case .bool(let value): return value ? "True" : "False"
    case .int(let value): return String(value)
    case .string(let text): return text
    case .array, .object, .namespace: return pythonRepr
    }
  }

  /// Python's `repr`.
  var pythonRepr: String {
    switch self {
    case .string(let text):
      let quote = text.contains("'") && !text.contains("\"") ? "\"" : "'"
      var body = ""
      for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": body += "\\\\"
        case "\n": body += "\\n"
        case "\r": body += "\\r"
        case "\t": body += "\\t"
        case "'" where quote == "'": body += "\\'"
        default: body.unicodeScalars.append(scalar)
        }
      }
      return quote + body + quote
    case .array(let items): return "[" + items.map(\.pythonRepr).joined(separator: ", ") + "]"
    case .object(let members):
      return "{"
        + members.map { JinjaValue.string($0.0).pythonRepr + ": " + $0.1.pythonRepr }
        .joined(separator: ", ") + "}"
    case .namespace: return "<Namespace>"
    default: return text
    }
  }

  /// `tojson`: Python's `json.dumps(value, ensure_ascii=False)` (as `transformers` sets it).
  /// - Parameters:
  ///   - indent: spaces per level, or `nil` for one line with `, ` and `: ` separators.
  ///   - level: the nesting level the text starts at.
  public func json(indent: Int?, level: Int = 0) -> String {
    switch self {
    case .undefined, .none: return "null"
    case .bool(let value): return value ? "true" : "false"
    case .int(let value): return String(value)
    case .string(let text):
      var out = "\""
      for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case "\u{08}": out += "\\b"
        case "\u{0C}": out += "\\f"
        case _ where scalar.value < 0x20:
          let hex = String(scalar.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: out.unicodeScalars.append(scalar)
        }
      }
      return out + "\""
    case .array(let items):
      if items.isEmpty { return "[]" }
      return wrap("[", "]", items.map { $0.json(indent: indent, level: level + 1) }, indent, level)
    case .object(let members):
      if members.isEmpty { return "{}" }
      return wrap(
        "{", "}",
        members.map {
          JinjaValue.string($0.0).json(indent: nil) + ": "
            + $0.1.json(indent: indent, level: level + 1)
        },
        indent, level)
    case .namespace(let space):
      return JinjaValue.object(space.members.sorted { $0.key < $1.key }.map { ($0.key, $0.value) })
        .json(indent: indent, level: level)
    }
  }

  private func wrap(
    _ open: String, _ close: String, _ parts: [String], _ indent: Int?, _ level: Int
  )
    -> String
  {
    guard let indent else { return open + parts.joined(separator: ", ") + close }
    let inner = String(repeating: " ", count: indent * (level + 1))
    let outer = String(repeating: " ", count: indent * level)
    return open + "\n" + parts.map { inner + $0 }.joined(separator: ",\n") + "\n" + outer + close
  }
}

/// The mutable members of a Jinja `namespace`.
public final class JinjaNamespace: @unchecked Sendable {
  /// Only touched by the one render that created it.
  var members: [String: JinjaValue]
  init(_ members: [String: JinjaValue]) { self.members = members }
}
