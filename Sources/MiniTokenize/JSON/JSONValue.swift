/// A parsed JSON value. Corpus records are small, so the record decoders work on these; the
/// parser builds them only for the fields a format asks for and validates the rest in place.
package enum JSONValue: Equatable, Sendable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
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

/// Why a JSON text was rejected; `offset` is the byte offset in the text.
package enum JSONFailure: Error, Equatable {
  /// Not JSON (RFC 8259) at `offset`.
  case syntax(offset: Int, message: String)
  /// Invalid UTF-8 or an unpaired surrogate escape at `offset`.
  case invalidUTF8(offset: Int)
}
