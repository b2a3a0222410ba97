import MiniSupport

/// A JSON value to write: what the server's responses are built from, members in the order
/// given (as OpenAI's responses list them).
enum JSONText: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
  case null
  case bool(Bool)
  case int(Int)
  case double(Double)
  case string(String)
  case array([JSONText])
  case object([(String, JSONText)])

  init(stringLiteral value: String) { self = .string(value) }
  init(integerLiteral value: Int) { self = .int(value) }

  /// `value`, or `null` when it is `nil`.
  static func optional(_ value: String?) -> JSONText { value.map { .string($0) } ?? .null }

  /// The compact JSON text.
  var text: String {
    var result = ""
    write(into: &result)
    return result
  }

  private func write(into result: inout String) {
    switch self {
    case .null: result += "null"
    case .bool(let value): result += value ? "true" : "false"
    case .int(let value): result += String(value)
    case .double(let value):
      // JSON has no NaN or infinities.
      result += value.isFinite ? "\(value)" : "null"
    case .string(let value): result += jsonStringLiteral(value)
    case .array(let elements):
      result += "["
      for (i, element) in elements.enumerated() {
        if i > 0 { result += "," }
        element.write(into: &result)
      }
      result += "]"
    case .object(let members):
      result += "{"
      for (i, (key, value)) in members.enumerated() {
        if i > 0 { result += "," }
        result += jsonStringLiteral(key)
        result += ":"
        value.write(into: &result)
      }
      result += "}"
    }
  }
}
