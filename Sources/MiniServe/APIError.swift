/// A request the server refuses, answered with OpenAI's error object:
/// `{"error": {"message", "type", "param", "code"}}` and the HTTP status.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
  /// The HTTP status code (400, 401, 404, 413, 422, 429, 503, …).
  public var status: Int
  /// What went wrong, for a person.
  public var message: String
  /// OpenAI's error type (`invalid_request_error`, `authentication_error`, …).
  public var type: String
  /// The request field at fault, if one is.
  public var param: String?
  /// A machine-readable code (`context_length_exceeded`, `model_not_found`, …).
  public var code: String?

  /// An error answered with `status`.
  public init(
    status: Int, message: String, type: String = "invalid_request_error", param: String? = nil,
    code: String? = nil
  ) {
    self.status = status
    self.message = message
    self.type = type
    self.param = param
    self.code = code
  }

  public var description: String { "\(status) \(type): \(message)" }

  /// A body that is not a JSON object (400).
  static func badJSON(_ message: String) -> APIError {
    APIError(status: 400, message: "the body is not valid JSON: \(message)", code: "invalid_json")
  }

  /// A field of the wrong type or out of range, or missing (422).
  static func invalid(_ param: String, _ message: String) -> APIError {
    APIError(status: 422, message: "'\(param)' \(message)", param: param, code: "invalid_value")
  }

  /// A well-formed request the server cannot serve as asked (400).
  static func unsupported(_ param: String, _ message: String) -> APIError {
    APIError(status: 400, message: message, param: param, code: "unsupported_value")
  }

  /// No or a wrong API key (401).
  static let unauthorized = APIError(
    status: 401,
    message: "missing or invalid API key: send it as 'Authorization: Bearer <key>'",
    type: "authentication_error", code: "invalid_api_key")

  /// A route the server does not have (404).
  static func notFound(_ method: String, _ path: String) -> APIError {
    APIError(
      status: 404, message: "no route \(method) \(path)", type: "not_found_error",
      code: "unknown_url")
  }

  /// A body over the size limit (413).
  static func tooLarge(limit: Int) -> APIError {
    APIError(
      status: 413, message: "the request body exceeds \(limit) bytes",
      code: "request_too_large")
  }

  /// Every batch slot and queue place is taken (429).
  static func queueFull(batch: Int, queue: Int) -> APIError {
    APIError(
      status: 429,
      message:
        "the server is busy: \(batch) requests are generating and \(queue) are waiting; retry later",
      type: "rate_limit_error", code: "queue_full")
  }

  /// The engine has stopped (503).
  static let unavailable = APIError(
    status: 503, message: "the server is shutting down", type: "server_error",
    code: "unavailable")

  /// The response body: OpenAI's error object.
  var json: JSONText {
    .object([
      (
        "error",
        .object([
          ("message", .string(message)), ("type", .string(type)), ("param", .optional(param)),
          ("code", .optional(code)),
        ])
      )
    ])
  }
}
