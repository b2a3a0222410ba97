import MiniTokenize

/// What `doc_to_target` gives for a document: an index into the choices, a text, or several
/// texts.
public enum TaskTarget: Sendable, Equatable {
  case index(Int)
  case text(String)
  case texts([String])
}

/// Turns documents into prompts as the harness's `ConfigurableTask` does: `doc_to_text`,
/// `doc_to_choice`, `doc_to_target` (a template equal to a column name reads that column), and
/// few-shot contexts of description, examples and delimiters.
public struct TaskPrompter: Sendable {
  public let config: TaskConfig
  /// The column names of the evaluated split (`features`).
  public let columns: Set<String>
  private let templates: [String: JinjaTemplate]
  private let origin: String

  /// A prompter for `config`, whose data has `columns`.
  /// - Throws: `EvalError` naming `origin` and the key of a template that does not parse.
  public init(config: TaskConfig, columns: Set<String>, origin: String) throws {
    self.config = config
    self.columns = columns
    self.origin = origin
    var templates: [String: JinjaTemplate] = [:]
    for (key, field) in [
      ("doc_to_text", config.docToText), ("doc_to_target", config.docToTarget),
      ("doc_to_choice", config.docToChoice ?? .list([])),
      ("description", .template(config.description)),
    ] {
      guard case .template(let source) = field, !columns.contains(source) else { continue }
      do {
        templates[source] = try JinjaTemplate(source)
      } catch {
        throw EvalError(file: origin, at: "key \(key)", "not a template MiniEval reads: \(error)")
      }
    }
    self.templates = templates
  }

  private func render(_ source: String, _ document: TaskDocument, key: String) throws -> String {
    guard let template = templates[source] else { return source }
    do {
      return try template.render(document.context)
    } catch {
      throw EvalError(file: document.origin, at: "key \(key)", "\(error)")
    }
  }

  /// `doc_to_text`.
  public func text(_ document: TaskDocument) throws -> String {
    switch config.docToText {
    case .template(let source):
      if columns.contains(source) {
        return try fieldText(document, source, key: "doc_to_text")
      }
      return try render(source, document, key: "doc_to_text")
    case .list, .index:
      throw EvalError(file: origin, at: "key doc_to_text", "expected a template")
    }
  }

  /// `description`, rendered for `document`.
  public func description(_ document: TaskDocument) throws -> String {
    try render(config.description, document, key: "description")
  }

  /// `doc_to_choice`.
  /// - Throws: `EvalError` naming the document when there are no choices or one is empty.
  public func choices(_ document: TaskDocument) throws -> [String] {
    let choices: [String]
    switch config.docToChoice {
    case nil: return []
    case .list(let list)?: choices = list
    case .index?: throw EvalError(file: origin, at: "key doc_to_choice", "expected a list")
    case .template(let source)?:
      if columns.contains(source) {
        guard case .array(let items)? = document[source] else {
          throw EvalError(
            file: document.origin, at: "field \(source)", "doc_to_choice: expected a list")
        }
        choices = items.map(\.plainText)
      } else {
        let rendered = try render(source, document, key: "doc_to_choice")
        guard let list = PythonLiteral.stringList(rendered) else {
          throw EvalError(
            file: document.origin, at: "key doc_to_choice",
            "renders \(rendered.debugDescription), not a Python list")
        }
        choices = list
      }
    }
    if choices.isEmpty {
      throw EvalError(file: document.origin, at: "key doc_to_choice", "no choices")
    }
    if let empty = choices.firstIndex(where: \.isEmpty) {
      throw EvalError(file: document.origin, at: "key doc_to_choice", "choice \(empty) is empty")
    }
    return choices
  }

  /// `doc_to_target`: a column's value, or the rendered template (an index when it is all digits
  /// and the task has choices; a list when it reads as a Python list).
  public func target(_ document: TaskDocument) throws -> TaskTarget {
    switch config.docToTarget {
    case .index(let index): return .index(index)
    case .list(let list): return .texts(list)
    case .template(let source):
      if columns.contains(source) {
        switch document[source] {
        case .int(let index)?: return .index(index)
        case .array(let items)?: return .texts(items.map(\.plainText))
        case let value?: return .text(value.plainText)
        case nil: throw EvalError(file: document.origin, at: "field \(source)", "missing")
        }
      }
      let rendered = try render(source, document, key: "doc_to_target")
      if config.docToChoice != nil, !rendered.isEmpty, rendered.allSatisfy(\.isASCII),
        rendered.allSatisfy(\.isNumber), let index = Int(rendered)
      {
        return .index(index)
      }
      if rendered.count >= 2, rendered.first == "[", rendered.last == "]",
        let list = PythonLiteral.stringList(rendered)
      {
        return .texts(list)
      }
      return .text(rendered)
    }
  }

  /// The index of the gold choice (`-100` when the target names no choice, as the harness marks
  /// it).
  public func goldIndex(_ document: TaskDocument, choices: [String]) throws -> Int {
    switch try target(document) {
    case .index(let index): return index < choices.count ? index : -100
    case .text(let text): return choices.firstIndex(of: text) ?? -100
    case .texts(let texts): return texts.first.flatMap { choices.firstIndex(of: $0) } ?? -100
    }
  }

  /// The answer text written after a few-shot example.
  public func targetText(_ document: TaskDocument) throws -> String {
    switch try target(document) {
    case .index(let index):
      let choices = try choices(document)
      guard choices.indices.contains(index) else {
        throw EvalError(
          file: document.origin, at: "key doc_to_target",
          "index \(index) is outside the \(choices.count) choices")
      }
      return choices[index]
    case .text(let text): return text
    case .texts(let texts): return texts.first ?? ""
    }
  }

  /// The prompt of `document` after `examples`: description, then each example's text, target
  /// delimiter, answer and few-shot delimiter, then the document's text.
  public func context(_ document: TaskDocument, examples: [TaskDocument]) throws -> String {
    var context = try description(document)
    for example in examples {
      let answer = try targetText(example)
      context += try text(example)
      if !answer.isEmpty {
        context += config.targetDelimiter + answer + config.fewshotDelimiter
      }
    }
    return context + (try text(document))
  }

  private func fieldText(_ document: TaskDocument, _ name: String, key: String) throws -> String {
    guard let value = document[name] else {
      throw EvalError(file: document.origin, at: "field \(name)", "missing (\(key))")
    }
    return value.plainText
  }
}

/// Draws few-shot examples as the harness's samplers do: `default` draws `k` (or `k + 1` when
/// the pool is the evaluated split, then drops the document itself) with one seeded
/// `random.Random` shared by every document in turn; `first_n` takes the first `k`.
public struct FewshotSampler: Sendable {
  public let pool: [TaskDocument]
  public let kind: String
  /// Whether the pool is the evaluated split (the document itself is then left out).
  public let poolIsEvaluatedSplit: Bool
  private var random: PythonRandom

  /// A sampler over `pool` seeded with `seed`.
  public init(pool: [TaskDocument], kind: String, poolIsEvaluatedSplit: Bool, seed: Int) {
    self.pool = pool
    self.kind = kind
    self.poolIsEvaluatedSplit = poolIsEvaluatedSplit
    random = PythonRandom(seed: seed)
  }

  /// `count` examples for `document`.
  /// - Throws: `EvalError` when the pool is too small.
  public mutating func examples(for document: TaskDocument, count: Int) throws -> [TaskDocument] {
    guard count > 0 else { return [] }
    let needed = count + (poolIsEvaluatedSplit ? 1 : 0)
    if kind == "first_n" {
      let candidates = poolIsEvaluatedSplit ? pool.filter { $0 != document } : pool
      guard candidates.count >= count else { throw tooSmall(count) }
      return Array(candidates.prefix(count))
    }
    guard pool.count >= needed else { throw tooSmall(count) }
    guard poolIsEvaluatedSplit else { return random.sample(pool, count: count) }
    var drawn = Array(random.sample(pool, count: needed).filter { $0 != document }.prefix(count))
    if drawn.count < count {
      drawn = random.sample(pool.filter { $0 != document }, count: count)
    }
    return drawn
  }

  private func tooSmall(_ count: Int) -> EvalError {
    EvalError(
      file: pool.first?.origin ?? "few-shot split",
      "\(count) few-shot examples asked of a split of \(pool.count) documents")
  }
}

extension JinjaValue {
  /// The value as Python's `str` prints it.
  var plainText: String {
    switch self {
    case .string(let text): return text
    case .int(let value): return String(value)
    case .bool(let flag): return flag ? "True" : "False"
    case .none: return "None"
    default: return "\(self)"
    }
  }
}

/// The Python literals `ast.literal_eval` reads in rendered choice lists: a list or tuple of
/// quoted strings and integers.
enum PythonLiteral {
  static func stringList(_ text: String) -> [String]? {
    var scalars = Array(text.unicodeScalars)[...]
    func skipSpace() {
      while let first = scalars.first, first.properties.isWhitespace { scalars.removeFirst() }
    }
    skipSpace()
    guard let open = scalars.popFirst(), open == "[" || open == "(" else { return nil }
    let close: Unicode.Scalar = open == "[" ? "]" : ")"
    var items: [String] = []
    while true {
      skipSpace()
      guard let first = scalars.first else { return nil }
      if first == close {
        scalars.removeFirst()
        break
      }
      if first == "'" || first == "\"" {
        scalars.removeFirst()
        var item = ""
        while true {
          guard let scalar = scalars.popFirst() else { return nil }
          if scalar == first { break }
          if scalar == "\\" {
            guard let escaped = scalars.popFirst() else { return nil }
            switch escaped {
            case "n": item += "\n"
            case "t": item += "\t"
            case "r": item += "\r"
            default: item.unicodeScalars.append(escaped)
            }
          } else {
            item.unicodeScalars.append(scalar)
          }
        }
        items.append(item)
      } else {
        var number = ""
        while let scalar = scalars.first, scalar == "-" || ("0"..."9").contains(scalar) {
          number.unicodeScalars.append(scalar)
          scalars.removeFirst()
        }
        guard Int(number) != nil else { return nil }
        items.append(number)
      }
      skipSpace()
      if scalars.first == "," { scalars.removeFirst() }
    }
    skipSpace()
    return scalars.isEmpty ? items : nil
  }
}
