import Foundation

extension ChatTemplate {
  /// The template whose `jinja` is `jinja`: reads back a `chat_template` that MiniLLM wrote
  /// into `tokenizer_config.json`.
  ///
  /// The Jinja text holds the name, the role prefixes and suffixes and whether BOS is added,
  /// but not which strings are special tokens, nor where the assistant's suffix ends and the
  /// end-of-turn token begins; those come from the rest of `tokenizer_config.json`. The result
  /// is checked by writing it out again: its `jinja` equals `jinja` exactly.
  /// - Parameters:
  ///   - jinja: the `chat_template` string.
  ///   - eosToken: the end-of-turn token (the file's `eos_token`).
  ///   - specialTokens: the pieces the file keeps whole (`added_tokens_decoder`); those that
  ///     occur in the template's text become its `specialTokens`, in this order.
  /// - Returns: `nil` when `jinja` is not a template MiniLLM writes (for example one written
  ///   by hand for another model); use a built-in template or a JSON spec instead.
  public init?(jinja: String, eosToken: String, specialTokens: [String]) {
    if let known = Self.builtIn.keys.sorted().lazy.compactMap({ Self.builtIn[$0] })
      .first(where: { $0.eos == eosToken && $0.jinja == jinja })
    {
      self = known
      return
    }
    for addsBOS in [false, true] {
      for hasSystem in [true, false] {
        for hasTool in [true, false] {
          if let template = Self.read(
            jinja, eosToken: eosToken, specialTokens: specialTokens,
            shape: (addsBOS, hasSystem, hasTool))
          {
            self = template
            return
          }
        }
      }
    }
    return nil
  }

  /// Matches `jinja` against the text `jinja` writes for one combination of optional parts.
  private static func read(
    _ jinja: String, eosToken: String, specialTokens: [String],
    shape: (addsBOS: Bool, hasSystem: Bool, hasTool: Bool)
  ) -> ChatTemplate? {
    let (regex, groups) = shapePatterns[shapeIndex(shape)]
    guard let regex,
      let match = regex.firstMatch(
        in: jinja, range: NSRange(jinja.startIndex..<jinja.endIndex, in: jinja))
    else { return nil }
    var values: [Field: String] = [:]
    for (index, field) in groups.enumerated() {
      guard let range = Range(match.range(at: index + 1), in: jinja),
        let value = unescaped(jinja[range])
      else { return nil }
      if let earlier = values[field], earlier != value { return nil }
      values[field] = value
    }
    // The assistant's literal after the content is suffix + eos + afterEOS.
    guard let tail = values[.assistantTail], let eosRange = tail.range(of: eosToken) else {
      return nil
    }
    let system =
      shape.hasSystem
      ? RoleFormat(prefix: values[.systemPrefix] ?? "", suffix: values[.systemSuffix] ?? "") : nil
    let user = RoleFormat(prefix: values[.userPrefix] ?? "", suffix: values[.userSuffix] ?? "")
    let assistant = RoleFormat(
      prefix: values[.assistantPrefix] ?? "", suffix: String(tail[..<eosRange.lowerBound]))
    let tool =
      shape.hasTool
      ? RoleFormat(prefix: values[.toolPrefix] ?? "", suffix: values[.toolSuffix] ?? "") : nil
    let afterEOS = String(tail[eosRange.upperBound...])
    let texts = [
      system?.prefix, system?.suffix, user.prefix, user.suffix, assistant.prefix,
      assistant.suffix, tool?.prefix, tool?.suffix, afterEOS,
    ].compactMap { $0 }
    var kept: [String] = []
    for token in specialTokens
    where !token.isEmpty && !kept.contains(token) && texts.contains(where: { $0.contains(token) }) {
      kept.append(token)
    }
    let template = ChatTemplate(
      name: values[.name] ?? "", system: system, user: user, assistant: assistant, tool: tool,
      eos: eosToken, afterEOS: afterEOS, specialTokens: kept, addsBOS: shape.addsBOS)
    guard template.validationProblem == nil, template.jinja == jinja else { return nil }
    return template
  }

  /// The fields of a MiniLLM template, in the order `jinja` writes their literals.
  fileprivate enum Field: Int, CaseIterable {
    case name, systemPrefix, systemSuffix, userPrefix, userSuffix, assistantPrefix
    case assistantTail, toolPrefix, toolSuffix
  }

  private static func shapeIndex(_ shape: (addsBOS: Bool, hasSystem: Bool, hasTool: Bool)) -> Int {
    (shape.addsBOS ? 4 : 0) + (shape.hasSystem ? 2 : 0) + (shape.hasTool ? 1 : 0)
  }

  /// For each combination of optional parts (indexed by `shapeIndex`), the regex matching the
  /// Jinja text `jinja` writes, with one group per field literal; compiled once, on first use.
  private static let shapePatterns: [(NSRegularExpression?, [Field])] = (0..<8).map { index in
    pattern(for: (index & 4 != 0, index & 2 != 0, index & 1 != 0))
  }

  /// The regex of one shape: the Jinja of a probe template whose strings are unique markers,
  /// with each marker standing for the escaped text of one field.
  private static func pattern(for shape: (addsBOS: Bool, hasSystem: Bool, hasTool: Bool))
    -> (NSRegularExpression?, [Field])
  {
    func marker(_ field: Field) -> String { "\u{E000}\(field.rawValue)\u{E001}" }
    let probe = ChatTemplate(
      name: marker(.name),
      system: shape.hasSystem
        ? RoleFormat(prefix: marker(.systemPrefix), suffix: marker(.systemSuffix)) : nil,
      user: RoleFormat(prefix: marker(.userPrefix), suffix: marker(.userSuffix)),
      assistant: RoleFormat(prefix: marker(.assistantPrefix)),
      tool: shape.hasTool
        ? RoleFormat(prefix: marker(.toolPrefix), suffix: marker(.toolSuffix)) : nil,
      eos: marker(.assistantTail), addsBOS: shape.addsBOS)
    var pattern = "^"
    var groups: [Field] = []
    var rest = Substring(probe.jinja)
    while let start = rest.range(of: "\u{E000}") {
      pattern += NSRegularExpression.escapedPattern(for: String(rest[..<start.lowerBound]))
      guard let end = rest[start.upperBound...].range(of: "\u{E001}"),
        let raw = Int(rest[start.upperBound..<end.lowerBound]), let field = Field(rawValue: raw)
      else { return (nil, []) }
      // The body of a single-quoted Jinja literal: any character but a quote or a backslash,
      // or a backslash escape.
      pattern += #"((?:[^'\\]|\\.)*)"#
      groups.append(field)
      rest = rest[end.upperBound...]
    }
    pattern += NSRegularExpression.escapedPattern(for: String(rest)) + "$"
    let regex = try? NSRegularExpression(pattern: pattern, options: [.dotMatchesLineSeparators])
    return (regex, groups)
  }

  /// The text of a Jinja literal's body as `escaped` writes it; `nil` for an unknown escape.
  private static func unescaped(_ body: Substring) -> String? {
    var result = String.UnicodeScalarView()
    var scalars = body.unicodeScalars.makeIterator()
    while let scalar = scalars.next() {
      guard scalar == "\\" else {
        result.append(scalar)
        continue
      }
      switch scalars.next() {
      case "\\": result.append("\\")
      case "'": result.append("'")
      case "n": result.append("\n")
      case "r": result.append("\r")
      case "t": result.append("\t")
      case "x":
        guard let high = scalars.next(), let low = scalars.next(),
          let value = UInt32(String([Character(high), Character(low)]), radix: 16),
          let decoded = Unicode.Scalar(value)
        else { return nil }
        result.append(decoded)
      default: return nil
      }
    }
    return String(result)
  }
}
