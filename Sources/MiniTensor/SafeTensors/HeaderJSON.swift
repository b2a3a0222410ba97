/// A JSON value parsed strictly (RFC 8259) from a safetensors header.
///
/// Objects keep their members in file order, duplicates included, so the reader can reject
/// duplicate names that a dictionary-based parser would silently merge. Numbers keep their text, so
/// `2.0` is told apart from `2`.
enum HeaderJSON {
  case object([(key: String, value: HeaderJSON)])
  case array([HeaderJSON])
  case string(String)
  case number(Number)
  case bool(Bool)
  case null

  /// A JSON number as written.
  struct Number {
    /// The literal text, e.g. `-12`, `2.0`, `1e3`.
    let text: String
    /// Whether the literal has neither fraction nor exponent.
    let isIntegerLiteral: Bool
    /// The value when the literal is an integer that fits in `Int`.
    var integer: Int? { isIntegerLiteral ? Int(text) : nil }
  }

  /// A short name of the value's JSON type for error messages.
  var typeName: String {
    switch self {
    case .object: "an object"
    case .array: "an array"
    case .string: "a string"
    case .number(let number): "the number \(number.text)"
    case .bool(let value): "\(value)"
    case .null: "null"
    }
  }

  /// Why a header is not JSON, and the byte offset in the header where that was found.
  struct SyntaxError: Error {
    let offset: Int
    let reason: String
  }

  /// Parses one JSON value surrounded by optional whitespace; `bytes` must be valid UTF-8.
  static func parse(_ bytes: UnsafeRawBufferPointer) throws(SyntaxError) -> HeaderJSON {
    var parser = Parser(bytes: bytes)
    parser.skipWhitespace()
    let value = try parser.parseValue(depth: 0)
    parser.skipWhitespace()
    if parser.position != bytes.count {
      throw parser.failure("unexpected \(parser.describeCurrent()) after the JSON value")
    }
    return value
  }
}

/// A recursive-descent parser over UTF-8 bytes.
private struct Parser {
  /// Deeper nesting is rejected rather than risking the stack on a hostile header.
  static let maximumDepth = 64

  let bytes: UnsafeRawBufferPointer
  var position = 0

  init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  func failure(_ reason: String) -> HeaderJSON.SyntaxError {
    HeaderJSON.SyntaxError(offset: position, reason: reason)
  }

  func describeCurrent() -> String {
    guard position < bytes.count else { return "end of header" }
    let byte = bytes[position]
    if byte >= 0x21 && byte < 0x7F { return "'\(Character(UnicodeScalar(byte)))'" }
    return "byte 0x\(String(byte, radix: 16))"
  }

  var current: UInt8? { position < bytes.count ? bytes[position] : nil }

  mutating func skipWhitespace() {
    while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 {
      position += 1
    }
  }

  mutating func expect(_ byte: UInt8, _ what: String) throws(HeaderJSON.SyntaxError) {
    guard current == byte else { throw failure("expected \(what), found \(describeCurrent())") }
    position += 1
  }

  mutating func parseValue(depth: Int) throws(HeaderJSON.SyntaxError) -> HeaderJSON {
    guard let byte = current else { throw failure("expected a value, found end of header") }
    switch byte {
    case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
    case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
    case UInt8(ascii: "t"):
      try parseLiteral("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try parseLiteral("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try parseLiteral("null")
      return .null
    default: throw failure("expected a value, found \(describeCurrent())")
    }
  }

  mutating func parseLiteral(_ word: StaticString) throws(HeaderJSON.SyntaxError) {
    let count = word.utf8CodeUnitCount
    let matches =
      position + count <= bytes.count
      && (0..<count).allSatisfy { bytes[position + $0] == word.utf8Start[$0] }
    guard matches else { throw failure("expected a value, found \(describeCurrent())") }
    position += count
  }

  mutating func parseObject(depth: Int) throws(HeaderJSON.SyntaxError) -> HeaderJSON {
    guard depth <= Parser.maximumDepth else { throw failure("nesting deeper than 64 levels") }
    position += 1  // {
    var members: [(key: String, value: HeaderJSON)] = []
    skipWhitespace()
    if current == UInt8(ascii: "}") {
      position += 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard current == UInt8(ascii: "\"") else {
        throw failure("expected a string key, found \(describeCurrent())")
      }
      let key = try parseString()
      skipWhitespace()
      try expect(UInt8(ascii: ":"), "':'")
      skipWhitespace()
      let value = try parseValue(depth: depth)
      members.append((key, value))
      skipWhitespace()
      if current == UInt8(ascii: ",") {
        position += 1
        continue
      }
      try expect(UInt8(ascii: "}"), "',' or '}'")
      return .object(members)
    }
  }

  mutating func parseArray(depth: Int) throws(HeaderJSON.SyntaxError) -> HeaderJSON {
    guard depth <= Parser.maximumDepth else { throw failure("nesting deeper than 64 levels") }
    position += 1  // [
    var elements: [HeaderJSON] = []
    skipWhitespace()
    if current == UInt8(ascii: "]") {
      position += 1
      return .array(elements)
    }
    while true {
      skipWhitespace()
      elements.append(try parseValue(depth: depth))
      skipWhitespace()
      if current == UInt8(ascii: ",") {
        position += 1
        continue
      }
      try expect(UInt8(ascii: "]"), "',' or ']'")
      return .array(elements)
    }
  }

  /// Parses `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
  mutating func parseNumber() throws(HeaderJSON.SyntaxError) -> HeaderJSON.Number {
    let start = position
    var isInteger = true
    if current == UInt8(ascii: "-") { position += 1 }
    if current == UInt8(ascii: "0") {
      position += 1
    } else if try skipDigits() == 0 {
      throw failure("expected a digit, found \(describeCurrent())")
    }
    if current == UInt8(ascii: ".") {
      isInteger = false
      position += 1
      if try skipDigits() == 0 { throw failure("expected a digit after '.'") }
    }
    if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
      isInteger = false
      position += 1
      if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
      if try skipDigits() == 0 { throw failure("expected a digit in the exponent") }
    }
    let text = String(
      decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    return HeaderJSON.Number(text: text, isIntegerLiteral: isInteger)
  }

  mutating func skipDigits() throws(HeaderJSON.SyntaxError) -> Int {
    let start = position
    while let byte = current, byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") {
      position += 1
    }
    return position - start
  }

  /// Parses a string literal starting at its opening quote.
  mutating func parseString() throws(HeaderJSON.SyntaxError) -> String {
    position += 1  // "
    let start = position
    // Fast path: no escapes.
    while let byte = current, byte != UInt8(ascii: "\""), byte != UInt8(ascii: "\\") {
      guard byte >= 0x20 else { throw failure("control character in a string") }
      position += 1
    }
    guard let stop = current else { throw failure("unterminated string") }
    if stop == UInt8(ascii: "\"") {
      position += 1
      return String(
        decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<(position - 1)]), as: UTF8.self)
    }
    var utf8 = Array(UnsafeRawBufferPointer(rebasing: bytes[start..<position]))
    while true {
      guard let byte = current else { throw failure("unterminated string") }
      position += 1
      switch byte {
      case UInt8(ascii: "\""):
        return String(decoding: utf8, as: UTF8.self)
      case UInt8(ascii: "\\"):
        try parseEscape(into: &utf8)
      case 0..<0x20:
        position -= 1
        throw failure("control character in a string")
      default:
        utf8.append(byte)
      }
    }
  }

  mutating func parseEscape(into utf8: inout [UInt8]) throws(HeaderJSON.SyntaxError) {
    guard let byte = current else { throw failure("unterminated string") }
    position += 1
    switch byte {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
    case UInt8(ascii: "b"): utf8.append(0x08)
    case UInt8(ascii: "f"): utf8.append(0x0C)
    case UInt8(ascii: "n"): utf8.append(0x0A)
    case UInt8(ascii: "r"): utf8.append(0x0D)
    case UInt8(ascii: "t"): utf8.append(0x09)
    case UInt8(ascii: "u"):
      var code = UInt32(try parseHex4())
      if (0xD800..<0xDC00).contains(code) {
        guard current == UInt8(ascii: "\\"), position + 1 < bytes.count,
          bytes[position + 1] == UInt8(ascii: "u")
        else { throw failure("unpaired surrogate in \\u escape") }
        position += 2
        let low = UInt32(try parseHex4())
        guard (0xDC00..<0xE000).contains(low) else {
          throw failure("unpaired surrogate in \\u escape")
        }
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
      } else if (0xDC00..<0xE000).contains(code) {
        throw failure("unpaired surrogate in \\u escape")
      }
      guard let scalar = Unicode.Scalar(code) else { throw failure("invalid \\u escape") }
      utf8.append(contentsOf: String(Character(scalar)).utf8)
    default:
      position -= 1
      throw failure("invalid escape '\\\(describeCurrent())'")
    }
  }

  mutating func parseHex4() throws(HeaderJSON.SyntaxError) -> UInt16 {
    guard position + 4 <= bytes.count else { throw failure("truncated \\u escape") }
    var value: UInt16 = 0
    for _ in 0..<4 {
      let byte = bytes[position]
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw failure("invalid hex digit \(describeCurrent()) in \\u escape")
      }
      value = value << 4 | UInt16(digit)
      position += 1
    }
    return value
  }
}
