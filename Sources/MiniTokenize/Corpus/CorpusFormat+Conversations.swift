import MiniSupport

extension CorpusFormat {
  /// Decodes an SFT record.
  func decodeConversation(_ fields: RecordFields) throws(RecordRejection) -> Conversation {
    var conversation: Conversation
    switch self {
    case .alpaca: conversation = try Self.alpaca(fields)
    case .sharegpt:
      conversation = try Self.roleMessages(
        fields.array("conversations"), field: "conversations", roleKey: "from", textKey: "value")
    case .minimind:
      let key = fields.members["conversations"] != nil ? "conversations" : "messages"
      conversation = try Self.roleMessages(
        fields.array(key), field: key, roleKey: "role", textKey: "content")
    case .firefly:
      conversation = Conversation(messages: [
        Message(role: .user, content: try fields.text("input")),
        Message(role: .assistant, content: try fields.text("target")),
      ])
    case .moss: conversation = try Self.moss(fields)
    case .shareai: conversation = try Self.shareAI(fields)
    default: preconditionFailure("decodeConversation: \(self) is not an SFT format")
    }
    if conversation.system == nil, let system = try fields.optionalString("system"),
      !system.isEmpty
    {
      conversation.system = system
    }
    try Self.validate(conversation)
    return conversation
  }

  /// A conversation must hold a user turn and end with an assistant turn, all non-empty.
  static func validate(_ conversation: Conversation, endsWithAssistant: Bool = true)
    throws(RecordRejection)
  {
    guard !conversation.messages.isEmpty else {
      throw RecordRejection(.missingField, "no messages")
    }
    for (index, message) in conversation.messages.enumerated() {
      try requireNonEmpty(message.content, field: "message \(index) (\(message.role.rawValue))")
    }
    guard conversation.messages.contains(where: { $0.role == .user }) else {
      throw RecordRejection(.missingField, "no user message")
    }
    if endsWithAssistant && conversation.messages.last?.role != .assistant {
      throw RecordRejection(.missingField, "the last message is not the assistant's")
    }
  }

  /// Alpaca: `history` pairs, then `instruction` + `\n` + `input` → `output`.
  private static func alpaca(_ fields: RecordFields) throws(RecordRejection) -> Conversation {
    var messages: [Message] = []
    if let history = fields.members["history"], history != .null {
      for (index, turn) in try fields.array("history").enumerated() {
        guard let pair = turn.array, pair.count == 2, let question = pair[0].string,
          let answer = pair[1].string
        else {
          throw RecordRejection(.wrongType, "'history[\(index)]' is not a [question, answer] pair")
        }
        messages.append(Message(role: .user, content: question))
        messages.append(Message(role: .assistant, content: answer))
      }
    }
    let instruction = try fields.string("instruction")
    let input = try fields.optionalString("input") ?? ""
    let prompt =
      input.isEmpty ? instruction : instruction.isEmpty ? input : "\(instruction)\n\(input)"
    try requireNonEmpty(prompt, field: "instruction")
    messages.append(Message(role: .user, content: prompt))
    messages.append(Message(role: .assistant, content: try fields.text("output")))
    return Conversation(messages: messages)
  }

  /// ShareGPT and minimind message lists; a leading system message becomes the system prompt.
  static func roleMessages(
    _ list: [JSONValue], field: String, roleKey: String, textKey: String
  ) throws(RecordRejection) -> Conversation {
    var conversation = Conversation(messages: [])
    for (index, value) in list.enumerated() {
      let entry = try RecordFields.element(value, of: field, at: index)
      let name = try entry.string(roleKey)
      guard let role = Self.role(named: name) else {
        throw RecordRejection(
          .wrongType, "'\(field)[\(index)].\(roleKey)' is unknown role '\(name)'")
      }
      let text = try entry.string(textKey)
      if role == .system {
        guard conversation.messages.isEmpty, conversation.system == nil else {
          throw RecordRejection(.wrongType, "'\(field)[\(index)]': system message mid-conversation")
        }
        conversation.system = text
      } else {
        conversation.messages.append(Message(role: role, content: text))
      }
    }
    return conversation
  }

  /// The role of a ShareGPT `from` or OpenAI `role` name.
  static func role(named name: String) -> Role? {
    switch name {
    case "human", "user": .user
    case "gpt", "assistant", "function_call", "bot", "chatgpt": .assistant
    case "system": .system
    case "observation", "tool", "function": .tool
    default: nil
    }
  }

  /// shareAI: `conversation: [{human, assistant}]`, with an optional `system` in the first turn.
  private static func shareAI(_ fields: RecordFields) throws(RecordRejection) -> Conversation {
    var conversation = Conversation(messages: [])
    for (index, value) in try fields.array("conversation").enumerated() {
      let turn = try RecordFields.element(value, of: "conversation", at: index)
      if index == 0, let system = try turn.optionalString("system"), !system.isEmpty {
        conversation.system = system
      }
      conversation.messages.append(Message(role: .user, content: try turn.string("human")))
      conversation.messages.append(
        Message(role: .assistant, content: try turn.string("assistant")))
    }
    return conversation
  }

  /// MOSS: moss-003 `chat.turn_N.{Human, MOSS}` (prefixes `<|Human|>: `, `<|MOSS|>: ` and
  /// suffixes `<eoh>`, `<eom>` removed) or moss-002 `plain_text` with `[Human]:`, `[MOSS]:`.
  private static func moss(_ fields: RecordFields) throws(RecordRejection) -> Conversation {
    var conversation = Conversation(messages: [])
    if let system = try fields.optionalString("meta_instruction"), !system.isEmpty {
      conversation.system = system
    }
    if fields.members["chat"] != nil {
      let chat = try fields.object("chat")
      let turns = chat.members.keys.compactMap { key -> (Int, String)? in
        guard key.hasPrefix("turn_"), let number = Int(key.dropFirst(5)) else { return nil }
        return (number, key)
      }.sorted { $0.0 < $1.0 }
      for (_, key) in turns {
        let turn = try chat.object(key)
        let human = try turn.string("Human")
        let moss = try turn.string("MOSS")
        conversation.messages.append(
          Message(role: .user, content: stripping(human, prefix: "<|Human|>:", suffix: "<eoh>")))
        conversation.messages.append(
          Message(role: .assistant, content: stripping(moss, prefix: "<|MOSS|>:", suffix: "<eom>")))
      }
      return conversation
    }
    let plain = try fields.string("plain_text")
    var rest = Substring(plain)
    while let human = rest.range(of: "[Human]:") {
      rest = rest[human.upperBound...]
      let question = rest.range(of: "<eoh>").map { rest[..<$0.lowerBound] } ?? rest
      guard let answerStart = rest.range(of: "[MOSS]:") else { break }
      rest = rest[answerStart.upperBound...]
      let answerEnd = rest.range(of: "<eoa>")
      let answer = answerEnd.map { rest[..<$0.lowerBound] } ?? rest
      conversation.messages.append(Message(role: .user, content: trimmed(question)))
      conversation.messages.append(Message(role: .assistant, content: trimmed(answer)))
      rest = answerEnd.map { rest[$0.upperBound...] } ?? rest[rest.endIndex...]
    }
    return conversation
  }

  private static func stripping(_ text: String, prefix: String, suffix: String) -> String {
    var body = Substring(text)
    if body.hasPrefix(prefix) { body = body.dropFirst(prefix.count) }
    body = Substring(trimmed(body))
    if body.hasSuffix(suffix) { body = body.dropLast(suffix.count) }
    return trimmed(body)
  }

  private static func trimmed(_ text: Substring) -> String {
    let scalars = text.unicodeScalars
    guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
      let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
    else { return "" }
    return String(scalars[first...last])
  }
}
