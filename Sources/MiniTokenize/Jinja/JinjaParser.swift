/// Parses Jinja tokens into nodes and expressions, with Jinja's operator precedence.
struct JinjaParser {
  let tokens: [JinjaToken]
  var position = 0
  /// Nesting of statements and expressions, bounded so hostile text cannot exhaust the stack.
  var depth = 0
  static let maximumDepth = 100

  mutating func enter() throws {
    depth += 1
    guard depth <= Self.maximumDepth else {
      throw JinjaError("nested more than \(Self.maximumDepth) levels deep")
    }
  }

  init(tokens: [JinjaToken]) { self.tokens = tokens }

  var current: JinjaToken? { position < tokens.count ? tokens[position] : nil }

  mutating func advance() -> JinjaToken? {
    defer { position += 1 }
    return current
  }

  mutating func expect(_ token: JinjaToken) throws {
    guard current == token else {
      throw JinjaError("expected \(token), found \(current.map { "\($0)" } ?? "the end")")
    }
    position += 1
  }

  mutating func accept(_ token: JinjaToken) -> Bool {
    if current == token {
      position += 1
      return true
    }
    return false
  }

  func isKeyword(_ name: String, at offset: Int = 0) -> Bool {
    position + offset < tokens.count && tokens[position + offset] == .name(name)
  }

  /// Nodes up to a block tag whose keyword is in `ends` (left unconsumed, after `{%`).
  mutating func parseBlock(until ends: Set<String>) throws -> [JinjaNode] {
    var nodes: [JinjaNode] = []
    while let token = current {
      switch token {
      case .text(let text):
        position += 1
        nodes.append(.text(text))
      case .outputStart:
        position += 1
        nodes.append(.output(try parseExpression()))
        try expect(.outputEnd)
      case .blockStart:
        guard case .name(let keyword)? = position + 1 < tokens.count ? tokens[position + 1] : nil
        else { throw JinjaError("a block tag without a keyword") }
        if ends.contains(keyword) { return nodes }
        position += 2
        nodes.append(try parseStatement(keyword))
      default:
        throw JinjaError("unexpected \(token)")
      }
    }
    if !ends.isEmpty {
      throw JinjaError("missing {% \(ends.sorted().joined(separator: " or ")) %}")
    }
    return nodes
  }

  /// Consumes `{% keyword` … `%}` of a closing or middle tag.
  mutating func closeTag(_ keyword: String) throws {
    try expect(.blockStart)
    try expect(.name(keyword))
  }

  mutating func parseStatement(_ keyword: String) throws -> JinjaNode {
    try enter()
    defer { depth -= 1 }
    switch keyword {
    case "for":
      var names: [String] = []
      repeat {
        guard case .name(let name)? = advance() else { throw JinjaError("for: expected a name") }
        names.append(name)
      } while accept(.symbol(","))
      try expect(.name("in"))
      let sequence = try parseExpression(allowConditional: false)
      try expect(.blockEnd)
      let body = try parseBlock(until: ["endfor", "else"])
      var otherwise: [JinjaNode] = []
      if isKeyword("else", at: 1) {
        try closeTag("else")
        try expect(.blockEnd)
        otherwise = try parseBlock(until: ["endfor"])
      }
      try closeTag("endfor")
      try expect(.blockEnd)
      return .forLoop(names: names, sequence: sequence, body: body, otherwise: otherwise)
    case "if":
      var branches: [(JinjaExpression, [JinjaNode])] = []
      var condition = try parseExpression()
      try expect(.blockEnd)
      var otherwise: [JinjaNode] = []
      while true {
        let body = try parseBlock(until: ["elif", "else", "endif"])
        branches.append((condition, body))
        if isKeyword("elif", at: 1) {
          try closeTag("elif")
          condition = try parseExpression()
          try expect(.blockEnd)
          continue
        }
        if isKeyword("else", at: 1) {
          try closeTag("else")
          try expect(.blockEnd)
          otherwise = try parseBlock(until: ["endif"])
        }
        try closeTag("endif")
        try expect(.blockEnd)
        return .conditional(branches, otherwise: otherwise)
      }
    case "set":
      guard case .name(let target)? = advance() else { throw JinjaError("set: expected a name") }
      var member: String?
      if accept(.symbol(".")) {
        guard case .name(let name)? = advance() else { throw JinjaError("set: expected a member") }
        member = name
      }
      try expect(.symbol("="))
      let value = try parseExpression()
      try expect(.blockEnd)
      return .set(target: target, member: member, value: value)
    default:
      throw JinjaError("'{% \(keyword) %}' is not supported")
    }
  }

  mutating func parseExpression(allowConditional: Bool = true) throws -> JinjaExpression {
    try enter()
    defer { depth -= 1 }
    let value = try parseOr()
    if allowConditional && isKeyword("if") {
      position += 1
      let condition = try parseOr()
      var otherwise: JinjaExpression?
      if accept(.name("else")) { otherwise = try parseExpression() }
      return .conditional(value, condition: condition, otherwise: otherwise)
    }
    return value
  }

  mutating func parseOr() throws -> JinjaExpression {
    var left = try parseAnd()
    while accept(.name("or")) { left = .binary("or", left, try parseAnd()) }
    return left
  }

  mutating func parseAnd() throws -> JinjaExpression {
    var left = try parseNot()
    while accept(.name("and")) { left = .binary("and", left, try parseNot()) }
    return left
  }

  mutating func parseNot() throws -> JinjaExpression {
    if accept(.name("not")) {
      try enter()
      defer { depth -= 1 }
      return .unary("not", try parseNot())
    }
    return try parseCompare()
  }

  mutating func parseCompare() throws -> JinjaExpression {
    var left = try parseMath1()
    while true {
      if case .symbol(let op)? = current, ["==", "!=", "<", ">", "<=", ">="].contains(op) {
        position += 1
        left = .binary(op, left, try parseMath1())
      } else if accept(.name("in")) {
        left = .binary("in", left, try parseMath1())
      } else if isKeyword("not") && isKeyword("in", at: 1) {
        position += 2
        left = .unary("not", .binary("in", left, try parseMath1()))
      } else {
        return left
      }
    }
  }

  mutating func parseMath1() throws -> JinjaExpression {
    var left = try parseConcat()
    while case .symbol(let op)? = current, op == "+" || op == "-" {
      position += 1
      left = .binary(op, left, try parseConcat())
    }
    return left
  }

  mutating func parseConcat() throws -> JinjaExpression {
    var left = try parseMath2()
    while accept(.symbol("~")) { left = .binary("~", left, try parseMath2()) }
    return left
  }

  mutating func parseMath2() throws -> JinjaExpression {
    var left = try parseUnary()
    while case .symbol(let op)? = current, ["*", "/", "//", "%"].contains(op) {
      position += 1
      left = .binary(op, left, try parseUnary())
    }
    return left
  }

  mutating func parseUnary() throws -> JinjaExpression {
    if accept(.symbol("-")) {
      try enter()
      defer { depth -= 1 }
      return .unary("-", try parseUnary())
    }
    var value = try parsePostfix(try parsePrimary())
    while true {
      if accept(.symbol("|")) {
        guard case .name(let name)? = advance() else { throw JinjaError("expected a filter name") }
        var arguments: [JinjaExpression] = []
        if accept(.symbol("(")) { arguments = try parseArguments().positional }
        value = try parsePostfix(.filter(value, name, arguments))
      } else if accept(.name("is")) {
        let negated = accept(.name("not"))
        guard case .name(let name)? = advance() else { throw JinjaError("expected a test name") }
        value = .test(value, name, negated: negated)
      } else {
        return value
      }
    }
  }

  mutating func parseArguments() throws -> (
    positional: [JinjaExpression], named: [(String, JinjaExpression)]
  ) {
    var positional: [JinjaExpression] = []
    var named: [(String, JinjaExpression)] = []
    while !accept(.symbol(")")) {
      if case .name(let name)? = current, position + 1 < tokens.count,
        tokens[position + 1] == .symbol("=")
      {
        position += 2
        named.append((name, try parseExpression()))
      } else {
        positional.append(try parseExpression())
      }
      if !accept(.symbol(",")) {
        try expect(.symbol(")"))
        break
      }
    }
    return (positional, named)
  }

  mutating func parsePrimary() throws -> JinjaExpression {
    switch advance() {
    case .string(var text)?:
      while case .string(let more)? = current {  // adjacent literals concatenate
        text += more
        position += 1
      }
      return .literal(.string(text))
    case .int(let value)?: return .literal(.int(value))
    case .name(let name)?:
      switch name {
      case "true", "True": return .literal(.bool(true))
      case "false", "False": return .literal(.bool(false))
      case "none", "None": return .literal(.none)
      default: return .name(name)
      }
    case .symbol("(")?:
      let value = try parseExpression()
      try expect(.symbol(")"))
      return value
    case .symbol("[")?:
      var items: [JinjaExpression] = []
      while !accept(.symbol("]")) {
        items.append(try parseExpression())
        if !accept(.symbol(",")) {
          try expect(.symbol("]"))
          break
        }
      }
      return .list(items)
    case let token:
      throw JinjaError("unexpected \(token.map { "\($0)" } ?? "end") in an expression")
    }
  }

  mutating func parsePostfix(_ base: JinjaExpression) throws -> JinjaExpression {
    var value = base
    while true {
      if accept(.symbol(".")) {
        guard case .name(let name)? = advance() else { throw JinjaError("expected a member name") }
        value = .member(value, name)
      } else if accept(.symbol("[")) {
        var start: JinjaExpression?
        if current != .symbol(":") { start = try parseExpression() }
        if accept(.symbol(":")) {
          var end: JinjaExpression?
          if current != .symbol("]") { end = try parseExpression() }
          try expect(.symbol("]"))
          value = .slice(value, start, end)
        } else {
          try expect(.symbol("]"))
          guard let start else { throw JinjaError("empty subscript") }
          value = .index(value, start)
        }
      } else if accept(.symbol("(")) {
        let arguments = try parseArguments()
        value = .call(value, arguments.positional, arguments.named)
      } else {
        return value
      }
    }
  }
}
