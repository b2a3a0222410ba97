/// A compiled Jinja template: the subset chat templates use (ChatML, Qwen2, Llama 3, Zephyr,
/// TinyLlama, SmolLM), rendered as `transformers`' `apply_chat_template` renders it (Jinja with
/// `trim_blocks` and `lstrip_blocks`).
///
/// Statements: `for … in …` (with `loop.index`, `index0`, `first`, `last`, `length`), `if`/`elif`/
/// `else`, `set` (names and `namespace` members). Expressions: literals, `[…]` lists, names,
/// `.member`, `[index]`, slices, `+ - * / %`, `~`, comparisons, `in`, `not in`, `and`, `or`,
/// `not`, `a if c else b`, tests (`is defined`, `none`, `string`, …), filters (`trim`, `length`,
/// `tojson`, `upper`, `lower`, `join`, `default`, `first`, `last`, `string`), string methods
/// (`strip`, `startswith`, `endswith`, `split`, …), and `raise_exception`, `namespace`, `range`.
/// Parsing happens once, in `init`.
public struct JinjaTemplate: Sendable {
  let nodes: [JinjaNode]

  /// Parses `source`.
  /// - Throws: `JinjaError` naming what could not be parsed.
  public init(_ source: String) throws {
    var parser = JinjaParser(tokens: try JinjaLexer.tokens(of: source))
    nodes = try parser.parseBlock(until: [])
  }

  /// Renders the template with `context`.
  /// - Throws: `JinjaError` for an operation the values do not support, or the message of
  ///   `raise_exception`.
  public func render(_ context: [String: JinjaValue]) throws -> String {
    var interpreter = JinjaInterpreter(scopes: [context])
    var output = ""
    try interpreter.run(nodes, into: &output)
    return output
  }
}

/// Why a template could not be parsed or rendered.
public struct JinjaError: Error, CustomStringConvertible, Sendable {
  /// What went wrong.
  public let message: String
  init(_ message: String) { self.message = message }
  public var description: String { "chat template: \(message)" }
}

indirect enum JinjaExpression: Sendable {
  case literal(JinjaValue)
  case list([JinjaExpression])
  case name(String)
  case member(JinjaExpression, String)
  case index(JinjaExpression, JinjaExpression)
  case slice(JinjaExpression, JinjaExpression?, JinjaExpression?)
  case call(JinjaExpression, [JinjaExpression], [(String, JinjaExpression)])
  case filter(JinjaExpression, String, [JinjaExpression])
  case test(JinjaExpression, String, negated: Bool)
  case unary(String, JinjaExpression)
  case binary(String, JinjaExpression, JinjaExpression)
  case conditional(JinjaExpression, condition: JinjaExpression, otherwise: JinjaExpression?)
}

enum JinjaNode: Sendable {
  case text(String)
  case output(JinjaExpression)
  case forLoop(
    names: [String], sequence: JinjaExpression, body: [JinjaNode], otherwise: [JinjaNode])
  case conditional([(JinjaExpression, [JinjaNode])], otherwise: [JinjaNode])
  case set(target: String, member: String?, value: JinjaExpression)
}

enum JinjaToken: Equatable, Sendable {
  case text(String)
  case outputStart, outputEnd, blockStart, blockEnd
  case name(String)
  case string(String)
  case int(Int)
  case symbol(String)
}

/// Cuts a template into text and tag tokens, applying `trim_blocks`, `lstrip_blocks` and the
/// `-` whitespace controls.
enum JinjaLexer {
  static func tokens(of source: String) throws -> [JinjaToken] {
    let s = Array(source.unicodeScalars)
    var tokens: [JinjaToken] = []
    var text = String.UnicodeScalarView()
    var i = 0
    var trimNextNewline = false
    var stripLeading = false
    func flushText(stripTrailing: Bool, lstrip: Bool) {
      var scalars = Array(text)
      if stripTrailing {
        while let last = scalars.last, last.properties.isWhitespace { scalars.removeLast() }
      } else if lstrip {
        // lstrip_blocks: spaces and tabs from the start of the line up to the tag.
        var k = scalars.count
        while k > 0 && (scalars[k - 1] == " " || scalars[k - 1] == "\t") { k -= 1 }
        if k == 0 || scalars[k - 1] == "\n" { scalars.removeSubrange(k...) }
      }
      if !scalars.isEmpty {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        tokens.append(.text(String(view)))
      }
      text = String.UnicodeScalarView()
    }
    while i < s.count {
      if stripLeading {
        while i < s.count && s[i].properties.isWhitespace { i += 1 }
        stripLeading = false
        continue
      }
      if trimNextNewline {
        trimNextNewline = false
        if s[i] == "\n" {
          i += 1
          continue
        }
        if s[i] == "\r" && i + 1 < s.count && s[i + 1] == "\n" {
          i += 2
          continue
        }
      }
      guard s[i] == "{", i + 1 < s.count, ["{", "%", "#"].contains(s[i + 1]) else {
        text.append(s[i])
        i += 1
        continue
      }
      let kind = s[i + 1]
      let minus = i + 2 < s.count && s[i + 2] == "-"
      let plus = i + 2 < s.count && s[i + 2] == "+"
      flushText(stripTrailing: minus, lstrip: kind != "{" && !plus)
      i += (minus || plus) ? 3 : 2
      let close: Unicode.Scalar = kind == "{" ? "}" : kind == "%" ? "%" : "#"
      if kind == "#" {
        while i + 1 < s.count && !(s[i] == "#" && s[i + 1] == "}") { i += 1 }
        guard i + 1 < s.count else { throw JinjaError("a comment is not closed") }
        let stripAfter = s[i - 1] == "-"
        i += 2
        if stripAfter { stripLeading = true } else { trimNextNewline = true }
        continue
      }
      tokens.append(kind == "{" ? .outputStart : .blockStart)
      // The tag's expression tokens.
      while true {
        while i < s.count && s[i].properties.isWhitespace { i += 1 }
        guard i < s.count else { throw JinjaError("a tag is not closed") }
        if s[i] == "-" && i + 2 < s.count && s[i + 1] == close && s[i + 2] == "}" {
          i += 3
          stripLeading = true
          break
        }
        if s[i] == close && i + 1 < s.count && s[i + 1] == "}" {
          i += 2
          if kind == "%" { trimNextNewline = true }
          break
        }
        let c = s[i]
        if c == "'" || c == "\"" {
          var value = String.UnicodeScalarView()
          i += 1
          while i < s.count && s[i] != c {
            if s[i] == "\\" && i + 1 < s.count {
              i += 1
              switch s[i] {
              case "n": value.append("\n")
              case "t": value.append("\t")
              case "r": value.append("\r")
              default: value.append(s[i])
              }
            } else {
              value.append(s[i])
            }
            i += 1
          }
          guard i < s.count else { throw JinjaError("a string is not closed") }
          i += 1
          tokens.append(.string(String(value)))
        } else if c.properties.isAlphabetic || c == "_" {
          var name = String.UnicodeScalarView()
          while i < s.count
            && (s[i].properties.isAlphabetic || s[i] == "_" || ("0"..."9").contains(s[i]))
          {
            name.append(s[i])
            i += 1
          }
          tokens.append(.name(String(name)))
        } else if ("0"..."9").contains(c) {
          var value = 0
          while i < s.count, ("0"..."9").contains(s[i]) {
            value = value &* 10 &+ Int(s[i].value - 48)
            i += 1
          }
          tokens.append(.int(value))
        } else {
          let two = i + 1 < s.count ? String(c) + String(s[i + 1]) : ""
          if ["==", "!=", "<=", ">=", "//", "**"].contains(two) {
            tokens.append(.symbol(two))
            i += 2
          } else if "+-*/%~()[].,:|<>={}".unicodeScalars.contains(c) {
            tokens.append(.symbol(String(c)))
            i += 1
          } else {
            throw JinjaError("unexpected character '\(c)' in a tag")
          }
        }
      }
      tokens.append(kind == "{" ? .outputEnd : .blockEnd)
    }
    flushText(stripTrailing: false, lstrip: false)
    return tokens
  }
}

extension JinjaTemplate {
  /// Renders a chat as `apply_chat_template(messages, tokenize=False, add_generation_prompt:)`
  /// does: `messages` (objects with `role` and `content`, and for tool calls whatever the
  /// template reads), `add_generation_prompt`, the special tokens by name (`bos_token`,
  /// `eos_token`, …) and any further variables (`tools`).
  /// - Throws: `JinjaError`, with `raise_exception`'s message when the template raises.
  public func renderChat(
    messages: [JinjaValue], addGenerationPrompt: Bool, specialTokens: [String: String] = [:],
    variables: [String: JinjaValue] = [:]
  ) throws -> String {
    var context = variables
    for (name, token) in specialTokens { context[name] = .string(token) }
    context["messages"] = .array(messages)
    context["add_generation_prompt"] = .bool(addGenerationPrompt)
    return try render(context)
  }
}

extension JinjaValue {
  /// A chat message `{"role": role, "content": content}`.
  public static func message(role: String, content: String) -> JinjaValue {
    .object([("role", .string(role)), ("content", .string(content))])
  }
}
