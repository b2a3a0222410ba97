import Foundation

/// A strict RFC 8259 JSON parser over UTF-8 bytes.
///
/// Built for corpus records: `parseObject(_:keeping:)` builds values only for the members a format
/// needs and validates the others in place (strings included, for UTF-8), so a long unused field
/// costs a scan, not an allocation.
package struct JSONParser: ~Copyable {
  private let bytes: UnsafeRawBufferPointer
  private var position = 0
  private var depth = 0
  private var scratch: [UInt8] = []
  /// Deepest nesting accepted (deeper texts are rejected rather than risking the stack).
  package static let maximumDepth = 256

  private init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  /// Parses one complete JSON text.
  package static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONFailure) -> JSONValue {
    var parser = JSONParser(bytes)
    parser.skipWhitespace()
    let value = try parser.parseValue()
    try parser.expectEnd()
    return value
  }

  /// Parses a JSON text that must be an object, building only the members in `keys` (all members
  /// when `keys` is `nil`); the text is validated completely either way.
  package static func parseObject(
    _ bytes: UnsafeRawBufferPointer, keeping keys: Set<String>?
  ) throws(JSONFailure) -> [String: JSONValue] {
    var parser = JSONParser(bytes)
    parser.skipWhitespace()
    guard parser.peek() == UInt8(ascii: "{") else {
      throw .syntax(offset: parser.position, message: "expected an object")
    }
    let members = try parser.parseObject(keeping: keys)
    try parser.expectEnd()
    return members
  }

  // MARK: Values

  private mutating func parseValue() throws(JSONFailure) -> JSONValue {
    guard let byte = peek() else { throw .syntax(offset: position, message: "unexpected end") }
    switch byte {
    case UInt8(ascii: "{"): return .object(try parseObject(keeping: nil))
    case UInt8(ascii: "["): return .array(try parseArray())
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"):
      try expectLiteral("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try expectLiteral("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try expectLiteral("null")
      return .null
    default:
      let range = try scanNumber()
      let text = String(decoding: bytes[range], as: UTF8.self)
      guard let value = Double(text) else {
        throw .syntax(offset: range.lowerBound, message: "bad number")
      }
      return .number(value)
    }
  }

  /// Validates one value without building it.
  private mutating func skipValue() throws(JSONFailure) {
    guard let byte = peek() else { throw .syntax(offset: position, message: "unexpected end") }
    switch byte {
    case UInt8(ascii: "{"):
      try enter()
      position += 1
      skipWhitespace()
      if peek() == UInt8(ascii: "}") {
        position += 1
        depth -= 1
        return
      }
      while true {
        try skipString()
        skipWhitespace()
        try expect(UInt8(ascii: ":"))
        skipWhitespace()
        try skipValue()
        skipWhitespace()
        if try endOfContainer(UInt8(ascii: "}")) { break }
      }
      depth -= 1
    case UInt8(ascii: "["):
      try enter()
      position += 1
      skipWhitespace()
      if peek() == UInt8(ascii: "]") {
        position += 1
        depth -= 1
        return
      }
      while true {
        try skipValue()
        skipWhitespace()
        if try endOfContainer(UInt8(ascii: "]")) { break }
      }
      depth -= 1
    case UInt8(ascii: "\""): try skipString()
    case UInt8(ascii: "t"): try expectLiteral("true")
    case UInt8(ascii: "f"): try expectLiteral("false")
    case UInt8(ascii: "n"): try expectLiteral("null")
    default: _ = try scanNumber()
    }
  }

  private mutating func parseObject(keeping keys: Set<String>?) throws(JSONFailure)
    -> [String: JSONValue]
  {
    try enter()
    position += 1
    var members: [String: JSONValue] = [:]
    skipWhitespace()
    if peek() == UInt8(ascii: "}") {
      position += 1
      depth -= 1
      return members
    }
    while true {
      let key = try parseString()
      skipWhitespace()
      try expect(UInt8(ascii: ":"))
      skipWhitespace()
      if keys == nil || keys!.contains(key) {
        members[key] = try parseValue()
      } else {
        try skipValue()
      }
      skipWhitespace()
      if try endOfContainer(UInt8(ascii: "}")) { break }
    }
    depth -= 1
    return members
  }

  private mutating func parseArray() throws(JSONFailure) -> [JSONValue] {
    try enter()
    position += 1
    var elements: [JSONValue] = []
    skipWhitespace()
    if peek() == UInt8(ascii: "]") {
      position += 1
      depth -= 1
      return elements
    }
    while true {
      elements.append(try parseValue())
      skipWhitespace()
      if try endOfContainer(UInt8(ascii: "]")) { break }
    }
    depth -= 1
    return elements
  }

  /// After a member or element: consumes `,` (and the whitespace after it, returning false) or
  /// the closing byte (returning true).
  private mutating func endOfContainer(_ closing: UInt8) throws(JSONFailure) -> Bool {
    guard let byte = peek() else { throw .syntax(offset: position, message: "unexpected end") }
    position += 1
    if byte == closing { return true }
    guard byte == UInt8(ascii: ",") else {
      throw .syntax(
        offset: position - 1, message: "expected ',' or '\(Character(Unicode.Scalar(closing)))'")
    }
    skipWhitespace()
    return false
  }

  // MARK: Strings

  /// Scans a string's plain run (no quote, backslash or control byte) starting at `position`.
  private func plainRunEnd(from start: Int) -> Int {
    var i = start
    while i < bytes.count {
      let byte = bytes[i]
      if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
      i += 1
    }
    return i
  }

  private mutating func parseString() throws(JSONFailure) -> String {
    try expect(UInt8(ascii: "\""))
    let start = position
    let runEnd = plainRunEnd(from: start)
    if runEnd < bytes.count && bytes[runEnd] == UInt8(ascii: "\"") {
      let run = UnsafeRawBufferPointer(rebasing: bytes[start..<runEnd])
      if let bad = firstInvalidUTF8(in: run) { throw .invalidUTF8(offset: start + bad) }
      position = runEnd + 1
      return String(decoding: run, as: UTF8.self)
    }
    scratch.removeAll(keepingCapacity: true)
    try decodeStringBody(into: true)
    return String(decoding: scratch, as: UTF8.self)
  }

  private mutating func skipString() throws(JSONFailure) {
    try expect(UInt8(ascii: "\""))
    try decodeStringBody(into: false)
  }

  /// Consumes a string body up to and including its closing quote, validating UTF-8 and escapes;
  /// appends the decoded bytes to `scratch` when `keep`.
  private mutating func decodeStringBody(into keep: Bool) throws(JSONFailure) {
    while true {
      let runEnd = plainRunEnd(from: position)
      let run = UnsafeRawBufferPointer(rebasing: bytes[position..<runEnd])
      if let bad = firstInvalidUTF8(in: run) { throw .invalidUTF8(offset: position + bad) }
      if keep { scratch.append(contentsOf: run) }
      position = runEnd
      guard let byte = peek() else {
        throw .syntax(offset: position, message: "unterminated string")
      }
      position += 1
      if byte == UInt8(ascii: "\"") { return }
      guard byte == UInt8(ascii: "\\") else {
        throw .syntax(offset: position - 1, message: "control character in a string")
      }
      try decodeEscape(keep: keep)
    }
  }

  private mutating func decodeEscape(keep: Bool) throws(JSONFailure) {
    guard let byte = peek() else { throw .syntax(offset: position, message: "unterminated string") }
    position += 1
    let simple: UInt8
    switch byte {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): simple = byte
    case UInt8(ascii: "b"): simple = 0x08
    case UInt8(ascii: "f"): simple = 0x0C
    case UInt8(ascii: "n"): simple = 0x0A
    case UInt8(ascii: "r"): simple = 0x0D
    case UInt8(ascii: "t"): simple = 0x09
    case UInt8(ascii: "u"):
      let escapeStart = position - 2
      var scalar = try hex4()
      if (0xD800...0xDBFF).contains(scalar) {
        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
          bytes[position + 1] == UInt8(ascii: "u")
        else { throw .invalidUTF8(offset: escapeStart) }
        position += 2
        let low = try hex4()
        guard (0xDC00...0xDFFF).contains(low) else { throw .invalidUTF8(offset: escapeStart) }
        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
      } else if (0xDC00...0xDFFF).contains(scalar) {
        throw .invalidUTF8(offset: escapeStart)
      }
      if keep, let unicode = Unicode.Scalar(scalar) {
        scratch.append(contentsOf: UTF8.encode(unicode)!)
      }
      return
    default:
      throw .syntax(offset: position - 2, message: "bad escape")
    }
    if keep { scratch.append(simple) }
  }

  private mutating func hex4() throws(JSONFailure) -> UInt32 {
    guard position + 4 <= bytes.count else {
      throw .syntax(offset: position, message: "short \\u escape")
    }
    var value: UInt32 = 0
    for _ in 0..<4 {
      let byte = bytes[position]
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw .syntax(offset: position, message: "bad \\u escape")
      }
      value = value << 4 | UInt32(digit)
      position += 1
    }
    return value
  }

  // MARK: Numbers, literals, whitespace

  /// Scans `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
  private mutating func scanNumber() throws(JSONFailure) -> Range<Int> {
    let start = position
    if peek() == UInt8(ascii: "-") { position += 1 }
    guard let first = peek(), isDigit(first) else {
      throw .syntax(offset: start, message: "unexpected character")
    }
    position += 1
    if first != UInt8(ascii: "0") { skipDigits() }
    if peek() == UInt8(ascii: ".") {
      position += 1
      guard let digit = peek(), isDigit(digit) else {
        throw .syntax(offset: position, message: "digit expected after '.'")
      }
      skipDigits()
    }
    if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
      position += 1
      if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { position += 1 }
      guard let digit = peek(), isDigit(digit) else {
        throw .syntax(offset: position, message: "digit expected in exponent")
      }
      skipDigits()
    }
    return start..<position
  }

  private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

  private mutating func skipDigits() {
    while let byte = peek(), isDigit(byte) { position += 1 }
  }

  private mutating func expectLiteral(_ literal: StaticString) throws(JSONFailure) {
    let count = literal.utf8CodeUnitCount
    guard position + count <= bytes.count,
      memcmp(bytes.baseAddress! + position, literal.utf8Start, count) == 0
    else { throw .syntax(offset: position, message: "unexpected character") }
    position += count
  }

  private mutating func expect(_ byte: UInt8) throws(JSONFailure) {
    guard peek() == byte else {
      throw .syntax(
        offset: position, message: "expected '\(Character(Unicode.Scalar(byte)))'")
    }
    position += 1
  }

  private mutating func expectEnd() throws(JSONFailure) {
    skipWhitespace()
    guard position == bytes.count else {
      throw .syntax(offset: position, message: "unexpected data after the value")
    }
  }

  private mutating func enter() throws(JSONFailure) {
    depth += 1
    guard depth <= Self.maximumDepth else {
      throw .syntax(offset: position, message: "nesting deeper than \(Self.maximumDepth)")
    }
  }

  private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

  private mutating func skipWhitespace() {
    while position < bytes.count {
      switch bytes[position] {
      case 0x20, 0x09, 0x0A, 0x0D: position += 1
      default: return
      }
    }
  }
}
