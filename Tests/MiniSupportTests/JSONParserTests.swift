import Foundation
import MiniSupport
import Testing

@Suite("JSONParser")
struct JSONParserTests {
  func parse(_ text: String) throws(JSONFailure) -> JSONValue {
    try parseBytes(Array(text.utf8)).get()
  }

  func parseBytes(_ bytes: [UInt8]) -> Result<JSONValue, JSONFailure> {
    bytes.withUnsafeBytes { raw in Result { () throws(JSONFailure) in try JSONParser.parse(raw) } }
  }

  /// The failure for `bytes`, recording an issue when they parse.
  func rejection(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation)
    -> JSONFailure?
  {
    switch parseBytes(bytes) {
    case .failure(let failure): return failure
    case .success(let value):
      Issue.record("accepted \(bytes) as \(value)", sourceLocation: sourceLocation)
      return nil
    }
  }

  func rejection(_ text: String, sourceLocation: SourceLocation = #_sourceLocation)
    -> JSONFailure?
  {
    rejection(Array(text.utf8), sourceLocation: sourceLocation)
  }

  @Test("Valid texts parse to the values Foundation's parser sees")
  func valid() throws {
    let texts = [
      #"{"a": [1, -2.5e3, 0, true, false, null], "b": {"c": "d"}}"#,
      #"  "\u4e2d\u6587 \ud83d\ude00 \n\t\"\\\/ \b\f\r"  "#,
      "[]", "{}", "0", "-0.0", "1E+2", #"["😀", "中文", "é"]"#, "\t[ 1 ,\r\n2 ]\n",
      #"[{"a": 1}, {"a": 2}]"#, #"{"a": {"a": 1}, "b": {"a": 2}}"#,
    ]
    for text in texts {
      let ours = try parse(text)
      let theirs = try JSONSerialization.jsonObject(
        with: Data(text.utf8), options: .fragmentsAllowed)
      #expect(Self.equal(ours, theirs), "\(text)")
    }
  }

  @Test(
    "Strictness: malformed texts are syntax errors",
    arguments: [
      "", " ", "{", "}", #"{"a" 1}"#, #"{"a":}"#, "[1 2]", "[1,,2]", "[,1]", "[01]", "[-01]",
      "[1.]", "[.5]", "[+1]", "[1e]", "[1e+]", "[-]", "[--1]", "0x10", "tru", "nul", "True",
      #"{'a':1}"#, #"{"a":1} x"#, "[1] [2]", "[\"a\u{01}\"]", "[\"a\nb\"]", #"["\x"]"#,
      #"["\u12"]"#, #"["\u12G4"]"#, "NaN", "[Infinity]", "[-Infinity]", #"{a:1}"#, "\"abc",
      "\u{FEFF}{}", "/* c */ {}", "{} // c", "[1e400]", "[-1e400]",
    ])
  func malformed(text: String) {
    guard let failure = rejection(text) else { return }
    #expect(failure.kind == .syntax, "\(text.debugDescription): \(failure)")
  }

  @Test(
    "Trailing commas are rejected in objects and arrays, said so in the message",
    arguments: [#"{"a":1,}"#, "[1,]", "[1 , ]", #"{"a":[1,2,],"b":2}"#, #"[{"a":1,}]"#])
  func trailingCommas(text: String) {
    guard let failure = rejection(text) else { return }
    #expect(failure.kind == .syntax)
    #expect(failure.message.contains("trailing ','"), "\(failure)")
  }

  @Test("Invalid UTF-8 is reported at its byte offset")
  func invalidUTF8() {
    let cases: [(bytes: [UInt8], offset: Int)] = [
      ([0x22, 0xFF, 0x22], 1), ([0x22, 0xC0, 0xAF, 0x22], 1), ([0x22, 0xED, 0xA0, 0x80, 0x22], 1),
      ([0x22, 0xE4, 0xB8, 0x22], 1), ([0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], 1),
      (Array(#"{"abc": "de"#.utf8) + [0xFE] + Array(#"f"}"#.utf8), 11),
      (Array(#"["x\n", ""#.utf8) + [0x80] + Array(#""]"#.utf8), 9),
    ]
    for (bytes, offset) in cases {
      guard let failure = rejection(bytes) else { continue }
      #expect(failure.kind == .invalidUTF8, "\(bytes)")
      #expect(failure.offset == offset, "\(bytes): \(failure)")
    }
  }

  @Test("Lone surrogate escapes are invalid UTF-8, reported at the escape")
  func loneSurrogates() throws {
    for text in [
      #""\ud800""#, #""\udc00x""#, #""\ud800\u0041""#, #""ab\uDBFF""#, #""\ude00\ud83d""#,
    ] {
      guard let failure = rejection(text) else { continue }
      #expect(failure.kind == .invalidUTF8, "\(text)")
      #expect(failure.offset == Array(text.utf8).firstIndex(of: UInt8(ascii: "\\")), "\(text)")
      #expect(failure.message.contains("surrogate"))
    }
    #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
    #expect(try parse(#""\uD834\uDD1E""#) == .string("𝄞"))
  }

  @Test("A member name repeated in one object is an error naming it, escapes decoded first")
  func duplicateKeys() throws {
    let text = #"{"a": 1, "a": 2}"#
    let failure = try #require(rejection(text))
    #expect(failure.kind == .duplicateKey("a"))
    #expect(failure.offset == 9)
    #expect(failure.path.isEmpty)

    #expect(rejection(#"{"w": 1, "\u0077": 2}"#)?.kind == .duplicateKey("w"))
    let nested = try #require(rejection(#"{"x": [0, {"b": 1, "b": 2}]}"#))
    #expect(nested.kind == .duplicateKey("b"))
    #expect(nested.path == [.key("x"), .index(1)])

    // Past the linear check, names are compared through a set.
    let many = (0..<40).map { "\"k\($0)\": \($0)" }
    #expect(try parse("{" + many.joined(separator: ", ") + "}").object?.count == 40)
    let repeated = "{" + (many + [#""k3": 0"#]).joined(separator: ", ") + "}"
    #expect(rejection(repeated)?.kind == .duplicateKey("k3"))

    // A repeat inside a member that parseObject does not keep is found too.
    let skipped = Array(#"{"text": "a", "meta": {"n": 1, "n": 2}}"#.utf8)
    let result = skipped.withUnsafeBytes { raw in
      Result { () throws(JSONFailure) in try JSONParser.parseObject(raw, keeping: ["text"]) }
    }
    guard case .failure(let skippedFailure) = result else {
      Issue.record("a repeated name in a skipped member was accepted")
      return
    }
    #expect(skippedFailure.kind == .duplicateKey("n"))
    #expect(skippedFailure.path == [.key("meta")])
  }

  @Test("A repeat is found wherever the first spelling was, and distinct names all pass")
  func duplicatesEverywhere() throws {
    for count in [1, 2, 5, 31, 32, 33, 70] {
      let names = (0..<count).map { "name\($0 * 7919)" }
      let members = names.enumerated().map { "\"\($0.element)\": [\($0.offset)]" }
      #expect(try parse("{" + members.joined(separator: ", ") + "}").object?.count == count)
      for index in stride(from: 0, to: count, by: max(1, count / 7)) {
        let plain = "\"\(names[index])\": 0"
        let escaped = "\"\\u006e" + names[index].dropFirst() + "\": 0"
        for repeat_ in [plain, escaped] {
          let text = "{" + (members + [repeat_]).joined(separator: ", ") + "}"
          #expect(rejection(text)?.kind == .duplicateKey(names[index]), "\(count) \(repeat_)")
        }
      }
    }
  }

  @Test("Errors carry the byte offset, line, column and the path to the value")
  func location() throws {
    let text = "{\n  \"a\": [1, 2, {\"b\": tru}],\n  \"c\": 3\n}"
    let failure = try #require(rejection(text))
    #expect(failure.kind == .syntax)
    let offset = try #require(Array(text.utf8).firstIndex(of: UInt8(ascii: "t")))
    #expect(failure.offset == offset)
    #expect(failure.line == 2)
    #expect(failure.column == 21)
    #expect(failure.path == [.key("a"), .index(2), .key("b")])
    #expect(failure.pathDescription == "$.a[2].b")
    #expect(
      failure.description == "line 2, column 21 (byte \(offset)) in $.a[2].b: \(failure.message)")

    let missingColon = try #require(rejection("{\n  \"a\": 1,\n  \"b\" 2\n}"))
    #expect((missingColon.line, missingColon.column, missingColon.offset) == (3, 7, 18))
    #expect(missingColon.message == "expected ':', found '2'")
    #expect(rejection(#"{"odd key": [x]}"#)?.pathDescription == #"$["odd key"][0]"#)
  }

  @Test("Nesting deeper than the limit is a clear error, not a stack overflow")
  func depth() throws {
    let limit = JSONParser.maximumDepth
    for open in ["[", #"{"a":"#] {
      let deep = String(repeating: open, count: 100_000)
      let failure = try #require(rejection(deep))
      #expect(failure.kind == .tooDeep)
      #expect(failure.offset == limit * open.utf8.count)
      #expect(failure.message.contains("\(limit)"))
      #expect(failure.path.count == limit)
    }
    let deepest = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
    #expect(throws: Never.self) { try parse(deepest) }
    let deepObject =
      String(repeating: #"{"a":"#, count: limit) + "1"
      + String(repeating: "}", count: limit)
    #expect(throws: Never.self) { try parse(deepObject) }
  }

  @Test("Numbers keep whether they are integer literals and an integer's exact value")
  func numbers() throws {
    func number(_ text: String) throws -> JSONNumber {
      try #require(try parse(text).number, "\(text)")
    }
    #expect(try number("2") == JSONNumber(value: 2, integer: 2, isIntegerLiteral: true))
    #expect(try number("2.0") == JSONNumber(value: 2, integer: nil, isIntegerLiteral: false))
    #expect(try number("2e0") == JSONNumber(value: 2, integer: nil, isIntegerLiteral: false))
    #expect(try number("-17").integer == -17)
    #expect(try number("9223372036854775807").integer == Int.max)
    #expect(try number("-9223372036854775808").integer == Int.min)
    let beyond = try number("9223372036854775808")
    #expect(beyond.isIntegerLiteral && beyond.integer == nil && beyond.value == 0x1p63)
    #expect(try number("99999999999999999999").integer == nil)
    // 2⁵³ + 1 is exact as an integer though not as a Double.
    #expect(try number("9007199254740993").integer == 9_007_199_254_740_993)
    let negativeZero = try number("-0")
    #expect(negativeZero.integer == 0 && negativeZero.value.sign == .minus)
    #expect(try number("0.1").value == 0.1)
    #expect(try number("-2.5E-3").value == -0.0025)
    #expect(try number("1e-400").value == 0)
    #expect(try number("1.7976931348623157e308").value == .greatestFiniteMagnitude)
    #expect(rejection("1.8e308")?.kind == .syntax)
    #expect(try parse("[1, 2.5]") == .array([.number(1), .number(2.5)]))
  }

  @Test("parseObject builds only the kept members but validates all of them")
  func keeping() throws {
    let text = Array(#"{"text": "好", "meta": {"x": [1, 2, "三"]}, "n": 3}"#.utf8)
    let members = try text.withUnsafeBytes { try JSONParser.parseObject($0, keeping: ["text"]) }
    #expect(members == ["text": .string("好")])
    let all = try text.withUnsafeBytes { try JSONParser.parseObject($0, keeping: nil) }
    #expect(all.count == 3 && all["n"] == .number(3))
    let bad = Array(#"{"text": "好", "meta": {"x": [1, 2,]}}"#.utf8)
    #expect(throws: JSONFailure.self) {
      try bad.withUnsafeBytes { try JSONParser.parseObject($0, keeping: ["text"]) }
    }
    let badString: [UInt8] = Array(#"{"text": "a", "other": ""#.utf8) + [0xFE] + Array(#""}"#.utf8)
    let result = badString.withUnsafeBytes { raw in
      Result { () throws(JSONFailure) in try JSONParser.parseObject(raw, keeping: ["text"]) }
    }
    guard case .failure(let failure) = result, failure.kind == .invalidUTF8 else {
      Issue.record("invalid UTF-8 in a skipped member was accepted")
      return
    }
    let notObject = Array("[1]".utf8)
    #expect(throws: JSONFailure.self) {
      try notObject.withUnsafeBytes { try JSONParser.parseObject($0, keeping: nil) }
    }
  }

  @Test("parseOrderedObject returns the members in the order of the text")
  func ordered() throws {
    let text = Array(#" {"b": 1, "a": {"y": 2, "x": 3}, "c": [true]} "#.utf8)
    let members = try text.withUnsafeBytes { try JSONParser.parseOrderedObject($0) }
    #expect(members.map(\.key) == ["b", "a", "c"])
    #expect(members[1].value == .object(["x": .number(3), "y": .number(2)]))
    #expect(members[2].value == .array([.bool(true)]))
    let notObject = Array(#""a""#.utf8)
    let result = notObject.withUnsafeBytes { raw in
      Result { () throws(JSONFailure) in try JSONParser.parseOrderedObject(raw) }
    }
    guard case .failure(let failure) = result else {
      Issue.record("a string was accepted as an object")
      return
    }
    #expect(failure.message == "expected an object, found '\"'")
  }

  @Test("jsonStringLiteral writes what the parser reads back")
  func stringLiteralRoundTrip() throws {
    let texts = [
      "", "plain", "quote \" backslash \\ slash /", "\n\r\t\u{8}\u{C}\u{0}\u{1F}\u{7F}",
      "中文 😀 é", "\u{2028}\u{2029}",
    ]
    for text in texts {
      #expect(try parse(jsonStringLiteral(text)) == .string(text), "\(text.debugDescription)")
    }
    #expect(jsonStringLiteral("a\u{1}\"") == #""a\u0001\"""#)
  }

  static func equal(_ value: JSONValue, _ other: Any) -> Bool {
    switch value {
    case .null: return other is NSNull
    case .bool(let flag):
      return (other as? Bool) == flag
    case .number(let number): return (other as? NSNumber)?.doubleValue == number.value
    case .string(let text): return (other as? String) == text
    case .array(let elements):
      guard let list = other as? [Any], list.count == elements.count else { return false }
      return zip(elements, list).allSatisfy { equal($0, $1) }
    case .object(let members):
      guard let dictionary = other as? [String: Any], dictionary.count == members.count else {
        return false
      }
      return members.allSatisfy { key, value in dictionary[key].map { equal(value, $0) } ?? false }
    }
  }
}
