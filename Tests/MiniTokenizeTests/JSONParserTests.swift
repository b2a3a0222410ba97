import Foundation
import MiniTokenize
import Testing

@Suite("JSONParser")
struct JSONParserTests {
  func parse(_ text: String) throws(JSONFailure) -> JSONValue {
    try parseBytes(Array(text.utf8)).get()
  }

  func parseBytes(_ bytes: [UInt8]) -> Result<JSONValue, JSONFailure> {
    bytes.withUnsafeBytes { raw in Result { () throws(JSONFailure) in try JSONParser.parse(raw) } }
  }

  @Test("Valid texts parse to the values Foundation's parser sees")
  func valid() throws {
    let texts = [
      #"{"a": [1, -2.5e3, 0, true, false, null], "b": {"c": "d"}}"#,
      #"  "\u4e2d\u6587 \ud83d\ude00 \n\t\"\\\/ \b\f\r"  "#,
      "[]", "{}", "0", "-0.0", "1E+2", #"["😀", "中文", "é"]"#,
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
      "", "{", #"{"a" 1}"#, #"{"a":1,}"#, "[1,]", "[01]", "[1.]", "[.5]", "[+1]", "[1e]",
      "tru", "nul", #"{'a':1}"#, #"{"a":1} x"#, "[\"a\u{01}\"]", #"["\x"]"#, #"["\u12"]"#,
      "NaN", "[Infinity]", #"{a:1}"#, "\"abc",
    ])
  func malformed(text: String) {
    guard case .failure(.syntax) = parseBytes(Array(text.utf8)) else {
      Issue.record("accepted \(text.debugDescription)")
      return
    }
  }

  @Test("Invalid UTF-8 and unpaired surrogate escapes are reported as such")
  func invalidUnicode() {
    let cases: [[UInt8]] = [
      [0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
      [0x22, 0xE4, 0xB8, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22],
      Array(#""\ud800""#.utf8), Array(#""\udc00x""#.utf8), Array(#""\ud800\u0041""#.utf8),
    ]
    for bytes in cases {
      guard case .failure(.invalidUTF8) = parseBytes(bytes) else {
        Issue.record("not rejected as invalid UTF-8: \(bytes)")
        continue
      }
    }
  }

  @Test("parseObject builds only the kept members but validates all of them")
  func keeping() throws {
    let text = Array(#"{"text": "好", "meta": {"x": [1, 2, "三"]}, "n": 3}"#.utf8)
    let members = try text.withUnsafeBytes { try JSONParser.parseObject($0, keeping: ["text"]) }
    #expect(members == ["text": .string("好")])
    let bad = Array(#"{"text": "好", "meta": {"x": [1, 2,]}}"#.utf8)
    #expect(throws: JSONFailure.self) {
      try bad.withUnsafeBytes { try JSONParser.parseObject($0, keeping: ["text"]) }
    }
    let badString: [UInt8] = Array(#"{"text": "a", "other": ""#.utf8) + [0xFE] + Array(#""}"#.utf8)
    let result = badString.withUnsafeBytes { raw in
      Result { () throws(JSONFailure) in try JSONParser.parseObject(raw, keeping: ["text"]) }
    }
    guard case .failure(.invalidUTF8) = result else {
      Issue.record("invalid UTF-8 in a skipped member was accepted")
      return
    }
  }

  @Test("Nesting deeper than the limit is rejected, not a stack overflow")
  func depth() {
    let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
    guard case .failure(.syntax) = parseBytes(Array(deep.utf8)) else {
      Issue.record("deep nesting accepted")
      return
    }
  }

  static func equal(_ value: JSONValue, _ other: Any) -> Bool {
    switch value {
    case .null: return other is NSNull
    case .bool(let flag):
      return (other as? Bool) == flag
    case .number(let number): return (other as? NSNumber)?.doubleValue == number
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
