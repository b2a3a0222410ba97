/// A parsed JSON value. The parser builds these only for what the caller asks for (see
/// `JSONParser.parseObject(_:keeping:)`) and validates the rest in place.
package enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  case number(JSONNumber)
  case string(String)
  case array([JSONValue])
  /// Members by name; the parser rejects a name that appears twice in one object.
  case object([String: JSONValue])

  /// The member `key` of an object, or `nil`.
  package subscript(key: String) -> JSONValue? {
    if case .object(let members) = self { return members[key] }
    return nil
  }

  /// The string, or `nil` for other kinds.
  package var string: String? {
    if case .string(let text) = self { return text }
    return nil
  }

  /// The number, or `nil` for other kinds.
  package var number: JSONNumber? {
    if case .number(let number) = self { return number }
    return nil
  }

  /// The elements, or `nil` for other kinds.
  package var array: [JSONValue]? {
    if case .array(let elements) = self { return elements }
    return nil
  }

  /// The members, or `nil` for other kinds.
  package var object: [String: JSONValue]? {
    if case .object(let members) = self { return members }
    return nil
  }

  /// The kind's name, for error messages.
  package var kindName: String {
    switch self {
    case .null: "null"
    case .bool: "a boolean"
    case .number: "a number"
    case .string: "a string"
    case .array: "an array"
    case .object: "an object"
    }
  }
}

/// A JSON number: its value as a `Double`, and for an integer literal its exact value.
///
/// `2`, `2.0` and `2e0` have the same `value`, but only `2` is an integer literal, so readers
/// that want integers (tensor shapes, token ids) can insist on one; integers beyond 2⁵³ keep
/// their exact value in `integer`.
package struct JSONNumber: Equatable, Sendable, CustomStringConvertible,
  ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral
{
  /// The value, rounded to the nearest `Double`.
  package var value: Double
  /// The exact value of an integer literal that fits in `Int`; `nil` otherwise.
  package var integer: Int?
  /// Whether the literal has neither a fraction nor an exponent.
  package var isIntegerLiteral: Bool

  /// A number from a literal with a fraction or an exponent.
  package init(_ value: Double) {
    self.value = value
    integer = nil
    isIntegerLiteral = false
  }

  /// A number from an integer literal.
  package init(_ integer: Int) {
    value = Double(integer)
    self.integer = integer
    isIntegerLiteral = true
  }

  /// A number whose literal is `value`; `integer` is its exact value when it is an integer
  /// literal that fits in `Int`.
  package init(value: Double, integer: Int?, isIntegerLiteral: Bool) {
    self.value = value
    self.integer = integer
    self.isIntegerLiteral = isIntegerLiteral
  }

  package init(integerLiteral value: Int) { self.init(value) }

  package init(floatLiteral value: Double) { self.init(value) }

  /// The integer as written, or the `Double`'s shortest text.
  package var description: String { integer.map(String.init) ?? "\(value)" }
}
