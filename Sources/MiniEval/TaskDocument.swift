import MiniTokenize

/// One item of a task's data: its fields in file order, as Jinja values (the `doc` that
/// `doc_to_text` and friends see).
public struct TaskDocument: Sendable, Equatable {
  /// The fields, in the order of the file's columns or JSON members.
  public var fields: [(String, JinjaValue)]
  /// Where the item comes from (`file row N`), for error messages.
  public var origin: String

  /// A document with `fields`.
  public init(fields: [(String, JinjaValue)], origin: String) {
    self.fields = fields
    self.origin = origin
  }

  /// The field `name`, or `nil`.
  public subscript(name: String) -> JinjaValue? {
    fields.first { $0.0 == name }?.1
  }

  /// The fields as the Jinja context of a template.
  public var context: [String: JinjaValue] {
    var context: [String: JinjaValue] = [:]
    for (name, value) in fields { context[name] = value }
    return context
  }

  public static func == (lhs: TaskDocument, rhs: TaskDocument) -> Bool {
    lhs.fields.count == rhs.fields.count
      && zip(lhs.fields, rhs.fields).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
  }
}
