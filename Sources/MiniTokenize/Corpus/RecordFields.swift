import MiniSupport

/// Typed access to a JSON record's members for the record decoders: every failure is a
/// `RecordRejection` naming the field (with its path inside the record).
struct RecordFields {
  let members: [String: JSONValue]
  let path: String

  init(_ members: [String: JSONValue], path: String = "") {
    self.members = members
    self.path = path
  }

  func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

  /// A required string (may be empty).
  func string(_ key: String) throws(RecordRejection) -> String {
    guard let value = members[key], value != .null else {
      throw RecordRejection(.missingField, "missing field '\(name(key))'")
    }
    guard let text = value.string else {
      throw RecordRejection(.wrongType, "'\(name(key))' is \(value.kindName), not a string")
    }
    return text
  }

  /// A required string with some non-whitespace character.
  func text(_ key: String) throws(RecordRejection) -> String {
    let text = try string(key)
    try requireNonEmpty(text, field: name(key))
    return text
  }

  /// An optional string (absent or null gives `nil`).
  func optionalString(_ key: String) throws(RecordRejection) -> String? {
    guard let value = members[key], value != .null else { return nil }
    guard let text = value.string else {
      throw RecordRejection(.wrongType, "'\(name(key))' is \(value.kindName), not a string")
    }
    return text
  }

  /// A required array.
  func array(_ key: String) throws(RecordRejection) -> [JSONValue] {
    guard let value = members[key], value != .null else {
      throw RecordRejection(.missingField, "missing field '\(name(key))'")
    }
    guard let elements = value.array else {
      throw RecordRejection(.wrongType, "'\(name(key))' is \(value.kindName), not an array")
    }
    return elements
  }

  /// A required object, as fields.
  func object(_ key: String) throws(RecordRejection) -> RecordFields {
    guard let value = members[key], value != .null else {
      throw RecordRejection(.missingField, "missing field '\(name(key))'")
    }
    guard let object = value.object else {
      throw RecordRejection(.wrongType, "'\(name(key))' is \(value.kindName), not an object")
    }
    return RecordFields(object, path: name(key))
  }

  /// Element `index` of an array field, which must be an object.
  static func element(_ value: JSONValue, of field: String, at index: Int) throws(RecordRejection)
    -> RecordFields
  {
    guard let object = value.object else {
      throw RecordRejection(.wrongType, "'\(field)[\(index)]' is \(value.kindName), not an object")
    }
    return RecordFields(object, path: "\(field)[\(index)]")
  }
}

/// Rejects text that is empty or only whitespace.
func requireNonEmpty(_ text: String, field: String) throws(RecordRejection) {
  if !text.unicodeScalars.contains(where: { !$0.properties.isWhitespace }) {
    throw RecordRejection(.emptyText, "'\(field)' is empty")
  }
}
