/// A task, data or model file that cannot be evaluated: names the file, the record (row, item or
/// YAML key) and what is wrong with it.
public struct EvalError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The file at fault.
  public let file: String
  /// The row, document or key at fault (`row 3`, `key doc_to_text`), if any.
  public let location: String?
  /// What is wrong, with a hint of how to fix it where there is one.
  public let message: String

  /// An error about `file` at `location`.
  public init(file: String, at location: String? = nil, _ message: String) {
    self.file = file
    self.location = location
    self.message = message
  }

  public var description: String {
    if let location { return "\(file): \(location): \(message)" }
    return "\(file): \(message)"
  }
}
