import MiniLlama
import MiniSupport
import MiniTokenize

/// A parsed `/v1/chat/completions` or `/v1/completions` request: the prompt's ids and how to
/// generate, checked against the model and the server's limits.
struct OpenAIRequest: Sendable {
  /// What the engine runs.
  var generation: GenerationRequest
  /// `stream`.
  var stream: Bool
  /// `stream_options.include_usage`.
  var includeUsage: Bool
}

/// The limits a request must respect.
struct RequestLimits: Sendable {
  /// Most messages in one chat request.
  var maxMessages: Int
  /// Prompt plus `max_tokens` must fit in this many positions.
  var context: Int
}

extension OpenAIRequest {
  /// Parses a chat request body: `messages` rendered by the model's chat template.
  static func chat(_ body: [UInt8], served: ServedModel, limits: RequestLimits) throws(APIError)
    -> OpenAIRequest
  {
    let fields = try Fields(body, served: served)
    guard let value = fields.members["messages"], value != .null else {
      throw APIError.invalid("messages", "is required")
    }
    guard let list = value.array else {
      throw APIError.invalid("messages", "must be an array, got \(value.kindName)")
    }
    guard !list.isEmpty else { throw APIError.invalid("messages", "must not be empty") }
    guard list.count <= limits.maxMessages else {
      throw APIError(
        status: 400,
        message: "\(list.count) messages: at most \(limits.maxMessages) are accepted",
        param: "messages", code: "too_many_messages")
    }
    var system: [String] = []
    var messages: [Message] = []
    for (i, item) in list.enumerated() {
      let field = "messages[\(i)]"
      guard let object = item.object else {
        throw APIError.invalid(field, "must be an object, got \(item.kindName)")
      }
      guard let roleName = object["role"]?.string else {
        throw APIError.invalid("\(field).role", "must be a string")
      }
      let content = try Self.content(object["content"], field: "\(field).content")
      switch roleName {
      case "system", "developer":
        guard messages.isEmpty else {
          throw APIError.invalid(
            "\(field).role", "'\(roleName)' must come before the user and assistant messages")
        }
        system.append(content)
      case "user": messages.append(Message(role: .user, content: content))
      case "assistant": messages.append(Message(role: .assistant, content: content))
      default:
        throw APIError.invalid(
          "\(field).role", "must be system, developer, user or assistant, got '\(roleName)'")
      }
    }
    guard messages.last?.role == .user else {
      throw APIError.invalid("messages", "must end with a user message")
    }
    let conversation = Conversation(
      system: system.isEmpty ? served.defaultSystemPrompt : system.joined(separator: "\n"),
      messages: messages)
    let prompt: [Int32]
    do {
      prompt = try served.renderer.renderPrompt(for: conversation)
    } catch {
      throw APIError.invalid("messages", "cannot be rendered by the model's template: \(error)")
    }
    return try fields.request(
      prompt: prompt, limits: limits, maxTokenKeys: ["max_completion_tokens", "max_tokens"])
  }

  /// Parses a completions body: `prompt` as a string (or a list of one string, or token ids).
  static func completion(_ body: [UInt8], served: ServedModel, limits: RequestLimits)
    throws(APIError) -> OpenAIRequest
  {
    let fields = try Fields(body, served: served)
    guard let value = fields.members["prompt"], value != .null else {
      throw APIError.invalid("prompt", "is required")
    }
    var prompt: [Int32] = []
    let tokenizer = served.renderer.tokenizer
    if served.renderer.template.addsBOS, let bos = tokenizer.specialIDs.bos {
      prompt.append(Int32(bos))
    }
    func encode(_ text: String) throws(APIError) {
      do {
        try tokenizer.encode(text, appendingTo: &prompt)
      } catch {
        throw APIError.invalid("prompt", "cannot be tokenised: \(error)")
      }
    }
    switch value {
    case .string(let text): try encode(text)
    case .array(let items) where items.count == 1 && items[0].string != nil:
      try encode(items[0].string!)
    case .array(let items) where !items.isEmpty && items.allSatisfy({ $0.number != nil }):
      prompt = []
      for item in items {
        guard let id = item.number?.integer, id >= 0, id < served.vocabularySize else {
          throw APIError.invalid(
            "prompt", "token ids must be integers in 0..<\(served.vocabularySize)")
        }
        prompt.append(Int32(id))
      }
    case .array:
      throw APIError.unsupported(
        "prompt", "'prompt' must be one string or one list of token ids (batches are not served)")
    default:
      throw APIError.invalid("prompt", "must be a string, got \(value.kindName)")
    }
    guard !prompt.isEmpty else { throw APIError.invalid("prompt", "must not be empty") }
    return try fields.request(prompt: prompt, limits: limits, maxTokenKeys: ["max_tokens"])
  }

  /// A message's text: a string, or a list of `{"type": "text", "text": …}` parts.
  private static func content(_ value: JSONValue?, field: String) throws(APIError) -> String {
    switch value {
    case .string(let text): return text
    case .array(let parts):
      var text = ""
      for (i, part) in parts.enumerated() {
        guard part["type"]?.string == "text", let piece = part["text"]?.string else {
          throw APIError.invalid(
            "\(field)[\(i)]", "must be a {\"type\": \"text\", \"text\": …} part")
        }
        text += piece
      }
      return text
    case nil, .null: throw APIError.invalid(field, "is required")
    case .some(let other): throw APIError.invalid(field, "must be a string, got \(other.kindName)")
    }
  }
}

/// The members of a request object, read with type and range checks.
private struct Fields {
  let members: [String: JSONValue]

  init(_ body: [UInt8], served: ServedModel) throws(APIError) {
    do {
      members = try body.withUnsafeBytes { bytes throws(JSONFailure) in
        try JSONParser.parseObject(bytes, keeping: nil)
      }
    } catch {
      throw APIError.badJSON("\(error)")
    }
    if let model = members["model"], model != .null {
      guard let name = model.string else {
        throw APIError.invalid("model", "must be a string, got \(model.kindName)")
      }
      guard name == served.name else {
        throw APIError(
          status: 404,
          message: "the model '\(name)' does not exist; this server has '\(served.name)'",
          type: "not_found_error", param: "model", code: "model_not_found")
      }
    }
  }

  private func present(_ key: String) -> JSONValue? {
    guard let value = members[key], value != .null else { return nil }
    return value
  }

  func number(_ key: String, in range: ClosedRange<Double>) throws(APIError) -> Double? {
    guard let value = present(key) else { return nil }
    guard let number = value.number?.value else {
      throw APIError.invalid(key, "must be a number, got \(value.kindName)")
    }
    guard range.contains(number) else {
      throw APIError.invalid(
        key, "must be in \(range.lowerBound)...\(range.upperBound), got \(number)")
    }
    return number
  }

  func integer(_ key: String, atLeast minimum: Int) throws(APIError) -> Int? {
    guard let value = present(key) else { return nil }
    guard let integer = value.number?.integer else {
      throw APIError.invalid(
        key,
        "must be an integer, got \(value.kindName == "a number" ? "\(value.number!.value)" : value.kindName)"
      )
    }
    guard integer >= minimum else {
      throw APIError.invalid(key, "must be ≥ \(minimum), got \(integer)")
    }
    return integer
  }

  func bool(_ key: String) throws(APIError) -> Bool? {
    guard let value = present(key) else { return nil }
    guard case .bool(let flag) = value else {
      throw APIError.invalid(key, "must be true or false, got \(value.kindName)")
    }
    return flag
  }

  /// The generation settings shared by both endpoints, and the context check.
  func request(prompt: [Int32], limits: RequestLimits, maxTokenKeys: [String]) throws(APIError)
    -> OpenAIRequest
  {
    if let n = try integer("n", atLeast: 1), n != 1 {
      throw APIError.unsupported("n", "only n = 1 is served")
    }
    if try bool("logprobs") == true || present("top_logprobs") != nil {
      throw APIError.unsupported("logprobs", "log-probabilities are not served")
    }
    if try bool("echo") == true { throw APIError.unsupported("echo", "echo is not served") }
    if let bestOf = try integer("best_of", atLeast: 1), bestOf != 1 {
      throw APIError.unsupported("best_of", "only best_of = 1 is served")
    }
    var maxTokens: Int?
    for key in maxTokenKeys where maxTokens == nil {
      maxTokens = try integer(key, atLeast: 1)
    }
    let room = limits.context - prompt.count
    guard room > 0 else {
      throw APIError(
        status: 400,
        message:
          "the prompt takes \(prompt.count) tokens; the context holds \(limits.context), leaving no room for a reply",
        param: "messages", code: "context_length_exceeded")
    }
    if let maxTokens, maxTokens > room {
      throw APIError(
        status: 400,
        message:
          "the prompt (\(prompt.count) tokens) plus max_tokens (\(maxTokens)) exceeds the context of \(limits.context) tokens",
        param: maxTokenKeys[0], code: "context_length_exceeded")
    }
    let temperature = try number("temperature", in: 0...2) ?? 1
    let topP = try number("top_p", in: 0...1) ?? 1
    let topK = try integer("top_k", atLeast: -1) ?? 0
    let presence = try number("presence_penalty", in: -2...2) ?? 0
    let frequency = try number("frequency_penalty", in: -2...2) ?? 0
    let repetition = try number("repetition_penalty", in: 0.01...10) ?? 1
    var seed: UInt64
    if let value = present("seed") {
      guard let integer = value.number?.integer else {
        throw APIError.invalid("seed", "must be an integer, got \(value.kindName)")
      }
      seed = UInt64(bitPattern: Int64(integer))
    } else {
      seed = UInt64.random(in: 0...UInt64.max)
    }
    var stop: [String] = []
    switch present("stop") {
    case nil: break
    case .string(let text)?: stop = [text]
    case .array(let items)?:
      guard items.count <= 16 else {
        throw APIError.invalid("stop", "must hold at most 16 strings")
      }
      for item in items {
        guard let text = item.string else {
          throw APIError.invalid("stop", "must be a string or a list of strings")
        }
        stop.append(text)
      }
    case let other?:
      throw APIError.invalid("stop", "must be a string or a list of strings, got \(other.kindName)")
    }
    guard stop.allSatisfy({ !$0.isEmpty }) else {
      throw APIError.invalid("stop", "must not hold an empty string")
    }
    let ignoreEOS = try bool("ignore_eos") ?? false
    let stream = try bool("stream") ?? false
    var includeUsage = false
    if let options = present("stream_options") {
      guard let object = options.object else {
        throw APIError.invalid("stream_options", "must be an object, got \(options.kindName)")
      }
      if let flag = object["include_usage"], flag != .null {
        guard case .bool(let value) = flag else {
          throw APIError.invalid("stream_options.include_usage", "must be true or false")
        }
        includeUsage = value
      }
    }
    let sampling =
      temperature == 0 || topP == 0
      ? SamplingOptions(greedy: true, repetitionPenalty: Float(repetition), seed: seed)
      : SamplingOptions(
        temperature: Float(temperature), topK: max(0, topK), topP: Float(topP),
        repetitionPenalty: Float(repetition), seed: seed)
    return OpenAIRequest(
      generation: GenerationRequest(
        prompt: prompt, maxTokens: maxTokens ?? room, sampling: sampling,
        presencePenalty: Float(presence), frequencyPenalty: Float(frequency), stop: stop,
        ignoresStopTokens: ignoreEOS),
      stream: stream, includeUsage: includeUsage)
  }
}
