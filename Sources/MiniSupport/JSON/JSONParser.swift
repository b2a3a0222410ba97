/// The package's one JSON parser: strict RFC 8259 over UTF-8 bytes, for safetensors headers,
/// corpus records, shard lines and index files.
///
/// Strict means: no trailing commas, comments, single quotes, leading zeros, `NaN` or data after
/// the value; strings must be well-formed UTF-8 without raw control characters, and `\u`
/// escapes must not leave a surrogate unpaired; a member name must not appear twice in one
/// object; numbers must fit a `Double`; nesting deeper than `maximumDepth` is an error rather
/// than a stack overflow. Every failure carries its byte offset, line and column.
///
/// Built for throughput on corpus records: `parseObject(_:keeping:)` builds values only for the
/// members a caller needs and validates the others in place, and strings without escapes are
/// scanned a run at a time, so a long unused field costs a scan, not an allocation.
package struct JSONParser: ~Copyable {
  /// Deepest nesting of objects and arrays accepted.
  package static let maximumDepth = 256

  let bytes: UnsafeRawBufferPointer
  var position = 0
  private var depth = 0
  /// Decoded bytes of a string with escapes.
  var scratch: [UInt8] = []

  init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  /// Parses one complete JSON text.
  /// - Throws: `JSONFailure` naming the first fault.
  package static func parse(_ bytes: UnsafeRawBufferPointer) throws(JSONFailure) -> JSONValue {
    var parser = JSONParser(bytes)
    parser.skipWhitespace()
    let value = try parser.parseValue()
    try parser.expectEnd()
    return value
  }

  /// Parses a JSON text that must be an object, building only the members in `keys` (all members
  /// when `keys` is `nil`); the text is validated completely either way.
  /// - Throws: `JSONFailure` naming the first fault, or a text that is not an object.
  package static func parseObject(
    _ bytes: UnsafeRawBufferPointer, keeping keys: Set<String>?
  ) throws(JSONFailure) -> [String: JSONValue] {
    var parser = JSONParser(bytes)
    parser.skipWhitespace()
    try parser.expectObject()
    var members: [String: JSONValue] = [:]
    try parser.parseMembers(keeping: keys) { members[$0] = $1 }
    try parser.expectEnd()
    return members
  }

  /// Parses a JSON text that must be an object, and returns its members in the order of the text
  /// (a safetensors header lists its tensors in file order).
  /// - Throws: `JSONFailure` naming the first fault, or a text that is not an object.
  package static func parseOrderedObject(
    _ bytes: UnsafeRawBufferPointer
  ) throws(JSONFailure) -> [(key: String, value: JSONValue)] {
    var parser = JSONParser(bytes)
    parser.skipWhitespace()
    try parser.expectObject()
    var members: [(key: String, value: JSONValue)] = []
    try parser.parseMembers(keeping: nil) { members.append(($0, $1)) }
    try parser.expectEnd()
    return members
  }

  // MARK: Values

  private mutating func parseValue() throws(JSONFailure) -> JSONValue {
    guard let byte = peek() else { throw failure(.syntax, "expected a value, found the end") }
    switch byte {
    case UInt8(ascii: "{"):
      var members: [String: JSONValue] = [:]
      try parseMembers(keeping: nil) { members[$0] = $1 }
      return .object(members)
    case UInt8(ascii: "["):
      var elements: [JSONValue] = []
      try parseElements { elements.append($0) }
      return .array(elements)
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
    default: return .number(try parseNumber())
    }
  }

  /// Validates one value without building it.
  mutating func skipValue() throws(JSONFailure) {
    guard let byte = peek() else { throw failure(.syntax, "expected a value, found the end") }
    switch byte {
    case UInt8(ascii: "{"): try parseMembers(keeping: []) { _, _ in }
    case UInt8(ascii: "["): try parseElements(nil)
    case UInt8(ascii: "\""): try skipString()
    case UInt8(ascii: "t"): try expectLiteral("true")
    case UInt8(ascii: "f"): try expectLiteral("false")
    case UInt8(ascii: "n"): try expectLiteral("null")
    default: _ = try parseNumber()
    }
  }

  /// Parses the object at `position`, passing each member in `keys` (every member when `nil`) to
  /// `add` and validating the others without building them.
  private mutating func parseMembers(
    keeping keys: Set<String>?, _ add: (String, JSONValue) -> Void
  ) throws(JSONFailure) {
    let objectStart = position
    try enter()
    skipWhitespace()
    if peek() == UInt8(ascii: "}") {
      position += 1
      depth -= 1
      return
    }
    var names = MemberNames(objectStart: objectStart)
    while true {
      guard peek() == UInt8(ascii: "\"") else {
        throw failure(.syntax, "expected a member name in quotes, found \(describeCurrent())")
      }
      let name = try scanName()
      let key = keys?.isEmpty == true ? nil : string(of: name)
      if !insert(name, into: &names) {
        let repeated = key ?? string(of: name)
        throw failure(
          .duplicateKey(repeated), at: name.start - 1,
          "the member name \(jsonStringLiteral(repeated)) appears more than once")
      }
      skipWhitespace()
      try expect(UInt8(ascii: ":"))
      skipWhitespace()
      do throws(JSONFailure) {
        if let key, keys?.contains(key) ?? true {
          add(key, try parseValue())
        } else {
          try skipValue()
        }
      } catch {
        throw error.inside(.key(key ?? string(of: name)))
      }
      skipWhitespace()
      if try endOfContainer(UInt8(ascii: "}")) { break }
    }
    depth -= 1
  }

  /// Parses the array at `position`, passing each element to `add`, or validating the elements
  /// without building them when `add` is `nil`.
  private mutating func parseElements(_ add: ((JSONValue) -> Void)?) throws(JSONFailure) {
    try enter()
    skipWhitespace()
    if peek() == UInt8(ascii: "]") {
      position += 1
      depth -= 1
      return
    }
    var index = 0
    while true {
      do throws(JSONFailure) {
        if let add { add(try parseValue()) } else { try skipValue() }
      } catch {
        throw error.inside(.index(index))
      }
      index += 1
      skipWhitespace()
      if try endOfContainer(UInt8(ascii: "]")) { break }
    }
    depth -= 1
  }

  /// Consumes the `{` or `[` at `position`, one level deeper.
  private mutating func enter() throws(JSONFailure) {
    guard depth < Self.maximumDepth else {
      throw failure(.tooDeep, "objects and arrays nested deeper than \(Self.maximumDepth) levels")
    }
    depth += 1
    position += 1
  }

  /// After a member or element: consumes `,` and the whitespace after it (returning false) or
  /// the closing byte (returning true).
  private mutating func endOfContainer(_ closing: UInt8) throws(JSONFailure) -> Bool {
    guard let byte = peek(), byte == UInt8(ascii: ",") || byte == closing else {
      throw failure(
        .syntax,
        "expected ',' or '\(Character(Unicode.Scalar(closing)))', found \(describeCurrent())"
      )
    }
    position += 1
    if byte == closing { return true }
    skipWhitespace()
    if peek() == closing { throw failure(.syntax, "trailing ',' before the closing bracket") }
    return false
  }

  // MARK: Strings

  /// The end of the plain run (no quote, backslash or control byte) starting at `start`.
  private func plainRunEnd(from start: Int) -> Int {
    var index = start
    while index < bytes.count {
      let byte = bytes[index]
      if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") || byte < 0x20 { break }
      index += 1
    }
    return index
  }

  /// Parses the string literal at `position`.
  private mutating func parseString() throws(JSONFailure) -> String {
    try expect(UInt8(ascii: "\""))
    let start = position
    let runEnd = plainRunEnd(from: start)
    if runEnd < bytes.count && bytes[runEnd] == UInt8(ascii: "\"") {
      let run = UnsafeRawBufferPointer(rebasing: bytes[start..<runEnd])
      if let bad = firstInvalidUTF8(in: run) {
        throw failure(.invalidUTF8, at: start + bad, "invalid UTF-8 in a string")
      }
      position = runEnd + 1
      return String(decoding: run, as: UTF8.self)
    }
    scratch.removeAll(keepingCapacity: true)
    try decodeStringBody(keep: true)
    return String(decoding: scratch, as: UTF8.self)
  }

  private mutating func skipString() throws(JSONFailure) {
    try expect(UInt8(ascii: "\""))
    try decodeStringBody(keep: false)
  }

  /// Validates the member name at `position` without building it.
  mutating func scanName() throws(JSONFailure) -> MemberName {
    try expect(UInt8(ascii: "\""))
    let start = position
    let hasEscapes = try decodeStringBody(keep: false)
    return MemberName(start: start, end: position - 1, hasEscapes: hasEscapes)
  }

  /// Consumes a string body up to and including its closing quote, validating UTF-8 and escapes;
  /// appends the decoded bytes to `scratch` when `keep`. Returns whether it held an escape.
  @discardableResult
  mutating func decodeStringBody(keep: Bool) throws(JSONFailure) -> Bool {
    var hasEscapes = false
    while true {
      let runEnd = plainRunEnd(from: position)
      let run = UnsafeRawBufferPointer(rebasing: bytes[position..<runEnd])
      if let bad = firstInvalidUTF8(in: run) {
        throw failure(.invalidUTF8, at: position + bad, "invalid UTF-8 in a string")
      }
      if keep { scratch.append(contentsOf: run) }
      position = runEnd
      guard let byte = peek() else { throw failure(.syntax, "unterminated string") }
      if byte == UInt8(ascii: "\"") {
        position += 1
        return hasEscapes
      }
      guard byte == UInt8(ascii: "\\") else {
        throw failure(.syntax, "control character \(describeCurrent()) in a string")
      }
      position += 1
      hasEscapes = true
      try decodeEscape(keep: keep)
    }
  }

  /// Decodes the escape after a backslash.
  private mutating func decodeEscape(keep: Bool) throws(JSONFailure) {
    let escapeStart = position - 1
    guard let byte = peek() else { throw failure(.syntax, "unterminated string") }
    let simple: UInt8
    switch byte {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): simple = byte
    case UInt8(ascii: "b"): simple = 0x08
    case UInt8(ascii: "f"): simple = 0x0C
    case UInt8(ascii: "n"): simple = 0x0A
    case UInt8(ascii: "r"): simple = 0x0D
    case UInt8(ascii: "t"): simple = 0x09
    case UInt8(ascii: "u"):
      position += 1
      var scalar = try hex4()
      if (0xD800...0xDBFF).contains(scalar) {
        guard position + 1 < bytes.count, bytes[position] == UInt8(ascii: "\\"),
          bytes[position + 1] == UInt8(ascii: "u")
        else {
          throw failure(.invalidUTF8, at: escapeStart, "unpaired surrogate in a \\u escape")
        }
        position += 2
        let low = try hex4()
        guard (0xDC00...0xDFFF).contains(low) else {
          throw failure(.invalidUTF8, at: escapeStart, "unpaired surrogate in a \\u escape")
        }
        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
      } else if (0xDC00...0xDFFF).contains(scalar) {
        throw failure(.invalidUTF8, at: escapeStart, "unpaired surrogate in a \\u escape")
      }
      if keep, let unicode = Unicode.Scalar(scalar), let encoded = UTF8.encode(unicode) {
        scratch.append(contentsOf: encoded)
      }
      return
    default:
      throw failure(.syntax, at: escapeStart, "invalid escape '\\\(describeCurrent())'")
    }
    position += 1
    if keep { scratch.append(simple) }
  }

  /// Reads the four hex digits of a `\u` escape.
  private mutating func hex4() throws(JSONFailure) -> UInt32 {
    var value: UInt32 = 0
    for _ in 0..<4 {
      guard let byte = peek() else { throw failure(.syntax, "truncated \\u escape") }
      let digit: UInt8
      switch byte {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
      default: throw failure(.syntax, "invalid hex digit \(describeCurrent()) in a \\u escape")
      }
      value = value << 4 | UInt32(digit)
      position += 1
    }
    return value
  }

  // MARK: Numbers, literals, whitespace

  /// Parses `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, keeping an integer literal's exact
  /// value when it fits in `Int`.
  private mutating func parseNumber() throws(JSONFailure) -> JSONNumber {
    let start = position
    let negative = peek() == UInt8(ascii: "-")
    if negative { position += 1 }
    guard let first = peek(), isDigit(first) else {
      if negative {
        throw failure(.syntax, "expected a digit after '-', found \(describeCurrent())")
      }
      throw failure(.syntax, "expected a value, found \(describeCurrent())")
    }
    var magnitude: UInt64 = 0
    var fits = true
    if first == UInt8(ascii: "0") {
      position += 1
    } else {
      while let byte = peek(), isDigit(byte) {
        let (times10, overflow1) = magnitude.multipliedReportingOverflow(by: 10)
        let (sum, overflow2) = times10.addingReportingOverflow(UInt64(byte - 0x30))
        fits = fits && !overflow1 && !overflow2
        magnitude = sum
        position += 1
      }
    }
    var isInteger = true
    if peek() == UInt8(ascii: ".") {
      isInteger = false
      position += 1
      guard skipDigits() > 0 else {
        throw failure(.syntax, "expected a digit after '.', found \(describeCurrent())")
      }
    }
    if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
      isInteger = false
      position += 1
      if let sign = peek(), sign == UInt8(ascii: "+") || sign == UInt8(ascii: "-") { position += 1 }
      guard skipDigits() > 0 else {
        throw failure(.syntax, "expected a digit in the exponent, found \(describeCurrent())")
      }
    }
    if isInteger && fits {
      let limit = negative ? UInt64(Int.max) + 1 : UInt64(Int.max)
      if magnitude <= limit {
        let integer = negative ? Int(truncatingIfNeeded: 0 &- magnitude) : Int(magnitude)
        let value = negative && magnitude == 0 ? -0.0 : Double(integer)
        return JSONNumber(value: value, integer: integer, isIntegerLiteral: true)
      }
    }
    let text = String(decoding: bytes[start..<position], as: UTF8.self)
    guard let value = Double(text), value.isFinite else {
      throw failure(.syntax, at: start, "the number \(text) is outside the range of a Double")
    }
    return JSONNumber(value: value, integer: nil, isIntegerLiteral: isInteger)
  }

  private func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }

  /// Skips decimal digits; returns how many.
  private mutating func skipDigits() -> Int {
    let start = position
    while let byte = peek(), isDigit(byte) { position += 1 }
    return position - start
  }

  private mutating func expectLiteral(_ literal: StaticString) throws(JSONFailure) {
    let count = literal.utf8CodeUnitCount
    guard position + count <= bytes.count else {
      throw failure(.syntax, "expected a value, found \(describeCurrent())")
    }
    for index in 0..<count where bytes[position + index] != literal.utf8Start[index] {
      throw failure(.syntax, "expected a value, found \(describeCurrent())")
    }
    position += count
  }

  private mutating func expect(_ byte: UInt8) throws(JSONFailure) {
    guard peek() == byte else {
      throw failure(
        .syntax, "expected '\(Character(Unicode.Scalar(byte)))', found \(describeCurrent())")
    }
    position += 1
  }

  private mutating func expectObject() throws(JSONFailure) {
    guard peek() == UInt8(ascii: "{") else {
      throw failure(.syntax, "expected an object, found \(describeCurrent())")
    }
  }

  private mutating func expectEnd() throws(JSONFailure) {
    skipWhitespace()
    guard position == bytes.count else {
      throw failure(.syntax, "unexpected \(describeCurrent()) after the value")
    }
  }

  private func peek() -> UInt8? { position < bytes.count ? bytes[position] : nil }

  mutating func skipWhitespace() {
    while position < bytes.count {
      switch bytes[position] {
      case 0x20, 0x09, 0x0A, 0x0D: position += 1
      default: return
      }
    }
  }

  // MARK: Errors

  private func failure(_ kind: JSONFailure.Kind, at offset: Int? = nil, _ message: String)
    -> JSONFailure
  {
    JSONFailure(kind, message, offset: offset ?? position, in: bytes)
  }

  private func describeCurrent() -> String { describe(at: position) }

  /// The byte at `offset` for a message: `'x'`, `byte 0xff`, or `the end`.
  private func describe(at offset: Int) -> String {
    guard offset < bytes.count else { return "the end" }
    let byte = bytes[offset]
    if byte >= 0x21 && byte < 0x7F { return "'\(Character(Unicode.Scalar(byte)))'" }
    return "byte 0x" + String(byte, radix: 16)
  }
}
