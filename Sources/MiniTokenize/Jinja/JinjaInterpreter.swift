import Foundation

/// Runs parsed Jinja nodes over a stack of variable scopes.
struct JinjaInterpreter {
  var scopes: [[String: JinjaValue]]
  /// Loop iterations left: a template cannot run for ever.
  var budget = JinjaInterpreter.maximumIterations

  /// Loop iterations one render may run.
  static let maximumIterations = 1_000_000
  /// The longest string (in UTF-8 bytes) a render may build.
  static let maximumLength = 1 << 24

  static func checked(_ text: String) throws -> String {
    guard text.utf8.count <= maximumLength else {
      throw JinjaError("a string longer than \(maximumLength) bytes")
    }
    return text
  }

  func lookup(_ name: String) -> JinjaValue {
    for scope in scopes.reversed() { if let value = scope[name] { return value } }
    return .undefined
  }

  mutating func run(_ nodes: [JinjaNode], into output: inout String) throws {
    for node in nodes {
      switch node {
      case .text(let text): output += text
      case .output(let expression):
        output += try evaluate(expression).text
        _ = try Self.checked(output)
      case .conditional(let branches, let otherwise):
        var taken = false
        for (condition, body) in branches where try evaluate(condition).isTruthy {
          try run(body, into: &output)
          taken = true
          break
        }
        if !taken { try run(otherwise, into: &output) }
      case .set(let target, let member, let expression):
        let value = try evaluate(expression)
        if let member {
          guard case .namespace(let space) = lookup(target) else {
            throw JinjaError("'\(target)' is not a namespace")
          }
          space.members[member] = value
        } else {
          scopes[scopes.count - 1][target] = value
        }
      case .forLoop(let names, let sequence, let body, let otherwise):
        let items: [JinjaValue]
        switch try evaluate(sequence) {
        case .array(let list): items = list
        case .object(let members): items = members.map { .string($0.0) }
        case .string(let text): items = text.map { .string(String($0)) }
        case .undefined, .none: items = []
        case let other: throw JinjaError("cannot loop over \(other.pythonRepr)")
        }
        if items.isEmpty { try run(otherwise, into: &output) }
        for (index, item) in items.enumerated() {
          // A loop body's `set` does not leak out of the loop, as in Jinja.
          var scope: [String: JinjaValue] = [
            "loop": .object([
              ("index", .int(index + 1)), ("index0", .int(index)), ("first", .bool(index == 0)),
              ("last", .bool(index == items.count - 1)), ("length", .int(items.count)),
              ("revindex", .int(items.count - index)), ("revindex0", .int(items.count - index - 1)),
              ("previtem", index > 0 ? items[index - 1] : .undefined),
              ("nextitem", index + 1 < items.count ? items[index + 1] : .undefined),
            ])
          ]
          if names.count == 1 {
            scope[names[0]] = item
          } else if case .array(let parts) = item, parts.count == names.count {
            for (name, part) in zip(names, parts) { scope[name] = part }
          } else {
            throw JinjaError("cannot unpack \(item.pythonRepr) into \(names.count) names")
          }
          budget -= 1
          guard budget >= 0 else {
            throw JinjaError("more than \(Self.maximumIterations) loop iterations")
          }
          scopes.append(scope)
          defer { scopes.removeLast() }
          try run(body, into: &output)
        }
      }
    }
  }

  mutating func evaluate(_ expression: JinjaExpression) throws -> JinjaValue {
    switch expression {
    case .literal(let value): return value
    case .list(let items): return .array(try items.map { try evaluate($0) })
    case .name(let name): return lookup(name)
    case .member(let base, let name): return try evaluate(base)[name]
    case .index(let base, let index):
      let container = try evaluate(base)
      let key = try evaluate(index)
      switch (container, key) {
      case (.array(let items), .int(let i)):
        let k = i < 0 ? items.count + i : i
        return items.indices.contains(k) ? items[k] : .undefined
      case (.string(let text), .int(let i)):
        let chars = Array(text)
        let k = i < 0 ? chars.count + i : i
        return chars.indices.contains(k) ? .string(String(chars[k])) : .undefined
      case (_, .string(let name)): return container[name]
      default: return .undefined
      }
    case .slice(let base, let start, let end):
      let container = try evaluate(base)
      func bound(_ e: JinjaExpression?, _ count: Int, _ fallback: Int) throws -> Int {
        guard let e, case .int(let i) = try evaluate(e) else { return fallback }
        return max(0, min(count, i < 0 ? count + i : i))
      }
      switch container {
      case .array(let items):
        let a = try bound(start, items.count, 0)
        let b = try bound(end, items.count, items.count)
        return .array(a < b ? Array(items[a..<b]) : [])
      case .string(let text):
        let chars = Array(text)
        let a = try bound(start, chars.count, 0)
        let b = try bound(end, chars.count, chars.count)
        return .string(a < b ? String(chars[a..<b]) : "")
      default: throw JinjaError("cannot slice \(container.pythonRepr)")
      }
    case .conditional(let value, let condition, let otherwise):
      if try evaluate(condition).isTruthy { return try evaluate(value) }
      return try otherwise.map { try evaluate($0) } ?? .undefined
    case .unary(let op, let operand):
      let value = try evaluate(operand)
      if op == "not" { return .bool(!value.isTruthy) }
      guard case .int(let i) = value else { throw JinjaError("cannot negate \(value.pythonRepr)") }
      return .int(-i)
    case .binary(let op, let lhs, let rhs):
      if op == "and" {
        let left = try evaluate(lhs)
        return left.isTruthy ? try evaluate(rhs) : left
      }
      if op == "or" {
        let left = try evaluate(lhs)
        return left.isTruthy ? left : try evaluate(rhs)
      }
      return try Self.binary(op, try evaluate(lhs), try evaluate(rhs))
    case .test(let base, let name, let negated):
      var value = try evaluate(base)
      // The global functions are defined (`strftime_now is defined`, as Llama 3's template asks).
      if case .name(let function) = base, value == .undefined,
        Self.globalFunctions.contains(function)
      {
        value = .string(function)
      }
      let result: Bool
      switch name {
      case "defined": result = value != .undefined
      case "undefined": result = value == .undefined
      case "none": result = value == .none
      case "string": if case .string = value { result = true } else { result = false }
      case "mapping": if case .object = value { result = true } else { result = false }
      case "number", "integer": if case .int = value { result = true } else { result = false }
      case "boolean": if case .bool = value { result = true } else { result = false }
      case "true": result = value == .bool(true)
      case "false": result = value == .bool(false)
      case "iterable", "sequence":
        switch value {
        case .array, .object, .string: result = true
        default: result = false
        }
      default: throw JinjaError("the test '\(name)' is not supported")
      }
      return .bool(result != negated)
    case .filter(let base, let name, let arguments):
      let value = try evaluate(base)
      let args = try arguments.map { try evaluate($0) }
      return try Self.filter(name, value, args)
    case .call(let callee, let arguments, let named):
      let args = try arguments.map { try evaluate($0) }
      var keywords: [(String, JinjaValue)] = []
      for (name, e) in named { keywords.append((name, try evaluate(e))) }
      if case .member(let base, let method) = callee {
        return try Self.method(method, on: try evaluate(base), args)
      }
      guard case .name(let function) = callee else { throw JinjaError("cannot call this") }
      switch function {
      case "raise_exception":
        throw JinjaError(args.first?.text ?? "raise_exception")
      case "namespace":
        return .namespace(JinjaNamespace(Dictionary(keywords, uniquingKeysWith: { $1 })))
      case "strftime_now":
        guard args.count == 1, case .string(let format) = args[0] else {
          throw JinjaError("strftime_now takes one format string")
        }
        return .string(try Self.strftimeNow(format))
      case "range":
        let ints = args.compactMap { if case .int(let i) = $0 { i } else { nil } }
        guard !ints.isEmpty, ints.count == args.count else {
          throw JinjaError("range needs integers")
        }
        let (a, b) = ints.count == 1 ? (0, ints[0]) : (ints[0], ints[1])
        guard b <= a || b - a <= Self.maximumIterations else {
          throw JinjaError("range of more than \(Self.maximumIterations) numbers")
        }
        return .array(a < b ? (a..<b).map { .int($0) } : [])
      default: throw JinjaError("the function '\(function)' is not supported")
      }
    }
  }

  /// The functions a template may call without a context variable of that name.
  static let globalFunctions: Set<String> = [
    "raise_exception", "namespace", "range", "strftime_now",
  ]

  /// The local date and time in a C `strftime` format, as `transformers` and llama.cpp give
  /// templates `strftime_now` (`datetime.now().strftime(format)`).
  static func strftimeNow(_ format: String) throws -> String {
    var now = time(nil)
    var parts = tm()
    guard localtime_r(&now, &parts) != nil else { throw JinjaError("strftime_now: no local time") }
    var buffer = [CChar](repeating: 0, count: 256)
    let count = strftime(&buffer, buffer.count, format, &parts)
    guard count > 0 || format.isEmpty else {
      throw JinjaError("strftime_now: the format \"\(format)\" gives nothing or too much")
    }
    return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  static func binary(_ op: String, _ a: JinjaValue, _ b: JinjaValue) throws -> JinjaValue {
    switch op {
    case "==": return .bool(a == b)
    case "!=": return .bool(a != b)
    case "~": return .string(try checked(a.text + b.text))
    case "in":
      switch b {
      case .array(let items): return .bool(items.contains(a))
      case .object: if case .string(let key) = a { return .bool(b[key] != .undefined) }
      case .string(let text):
        if case .string(let part) = a { return .bool(part.isEmpty || text.contains(part)) }
      default: break
      }
      throw JinjaError("cannot test \(a.pythonRepr) in \(b.pythonRepr)")
    default: break
    }
    switch (a, b) {
    case (.int(let x), .int(let y)):
      switch op {
      case "+": return .int(x &+ y)
      case "-": return .int(x &- y)
      case "*": return .int(x &* y)
      case "//", "/": guard y != 0 else { throw JinjaError("division by zero") }; return .int(x / y)
      case "%":
        guard y != 0 else { throw JinjaError("division by zero") }; return .int(((x % y) + y) % y)
      case "<": return .bool(x < y)
      case ">": return .bool(x > y)
      case "<=": return .bool(x <= y)
      case ">=": return .bool(x >= y)
      default: break
      }
    case (.string(let x), .string(let y)):
      switch op {
      case "+": return .string(try checked(x + y))
      case "<": return .bool(x < y)
      case ">": return .bool(x > y)
      case "<=": return .bool(x <= y)
      case ">=": return .bool(x >= y)
      default: break
      }
    case (.array(let x), .array(let y)) where op == "+":
      guard x.count + y.count <= maximumIterations else { throw JinjaError("a list too long") }
      return .array(x + y)
    default: break
    }
    throw JinjaError("unsupported operand types for \(op): \(a.pythonRepr) and \(b.pythonRepr)")
  }

  static func filter(_ name: String, _ value: JinjaValue, _ args: [JinjaValue]) throws -> JinjaValue
  {
    switch name {
    case "trim": return .string(value.text.trimmingPythonWhitespace())
    case "length", "count":
      switch value {
      case .array(let items): return .int(items.count)
      case .object(let members): return .int(members.count)
      case .string(let text): return .int(text.count)
      default: throw JinjaError("\(value.pythonRepr) has no length")
      }
    case "tojson":
      var indent: Int?
      if case .int(let i)? = args.first { indent = i }
      return .string(value.json(indent: indent))
    case "upper": return .string(value.text.uppercased())
    case "lower": return .string(value.text.lowercased())
    case "string": return .string(value.text)
    case "first": if case .array(let items) = value { return items.first ?? .undefined }
    case "last": if case .array(let items) = value { return items.last ?? .undefined }
    case "join":
      if case .array(let items) = value {
        return .string(items.map(\.text).joined(separator: args.first?.text ?? ""))
      }
    case "default":
      return value == .undefined ? (args.first ?? .string("")) : value
    default: break
    }
    throw JinjaError("the filter '\(name)' is not supported on \(value.pythonRepr)")
  }

  static func method(_ name: String, on value: JinjaValue, _ args: [JinjaValue]) throws
    -> JinjaValue
  {
    if case .string(let text) = value {
      switch name {
      case "strip": return .string(text.trimmingPythonWhitespace())
      case "lstrip": return .string(String(text.drop { $0.isWhitespace }))
      case "rstrip": return .string(String(text.reversed().drop { $0.isWhitespace }.reversed()))
      case "upper": return .string(text.uppercased())
      case "lower": return .string(text.lowercased())
      case "startswith": return .bool(text.hasPrefix(args.first?.text ?? ""))
      case "endswith": return .bool(text.hasSuffix(args.first?.text ?? ""))
      case "split":
        if let separator = args.first?.text, !separator.isEmpty {
          return .array(text.components(separatedBy: separator).map { .string($0) })
        }
        return .array(text.split(whereSeparator: \.isWhitespace).map { .string(String($0)) })
      case "replace":
        guard args.count >= 2 else { break }
        return .string(text.replacingOccurrences(of: args[0].text, with: args[1].text))
      default: break
      }
    }
    if case .array(let items) = value {
      switch name {
      // Python's `list.index(x)` (lm-evaluation-harness templates turn a letter into an index).
      case "index":
        guard let wanted = args.first else { break }
        guard let position = items.firstIndex(of: wanted) else {
          throw JinjaError("\(wanted.pythonRepr) is not in list")
        }
        return .int(position)
      case "count":
        guard let wanted = args.first else { break }
        return .int(items.filter { $0 == wanted }.count)
      default: break
      }
    }
    if case .object(let members) = value {
      switch name {
      case "items": return .array(members.map { .array([.string($0.0), $0.1]) })
      case "keys": return .array(members.map { .string($0.0) })
      case "values": return .array(members.map(\.1))
      case "get":
        return args.first.map {
          value[$0.text] == .undefined ? (args.count > 1 ? args[1] : .none) : value[$0.text]
        } ?? .none
      default: break
      }
    }
    throw JinjaError("the method '\(name)' is not supported on \(value.pythonRepr)")
  }
}

extension String {
  /// Python's `str.strip()`: white space removed from both ends.
  func trimmingPythonWhitespace() -> String {
    let scalars = Array(unicodeScalars)
    var a = 0
    var b = scalars.count
    while a < b && scalars[a].properties.isWhitespace { a += 1 }
    while b > a && scalars[b - 1].properties.isWhitespace { b -= 1 }
    var view = String.UnicodeScalarView()
    view.append(contentsOf: scalars[a..<b])
    return String(view)
  }
}
