extension CorpusFormat {
  /// Decodes a JSON preference record.
  func decodePreference(_ fields: RecordFields) throws(RecordRejection) -> PreferencePair {
    let pair: PreferencePair
    switch self {
    case .dpo:
      let prompt = try fields.text("prompt")
      let chosen: String
      let rejected: String
      if fields.members["chosen"] == nil, fields.members["answer"] != nil {
        // The older DPO-En-Zh-20k layout: `answer: [chosen, rejected]`.
        let answers = try fields.array("answer")
        guard answers.count == 2, let first = answers[0].string, let second = answers[1].string
        else { throw RecordRejection(.wrongType, "'answer' is not [chosen, rejected]") }
        (chosen, rejected) = (first, second)
      } else {
        (chosen, rejected) = (try fields.string("chosen"), try fields.string("rejected"))
      }
      let system = try fields.optionalString("system").flatMap { $0.isEmpty ? nil : $0 }
      pair = PreferencePair(
        prompt: Conversation(system: system, messages: [Message(role: .user, content: prompt)]),
        chosen: chosen, rejected: rejected)
    case .sharegptPreference:
      var prompt = try Self.roleMessages(
        fields.array("conversations"), field: "conversations", roleKey: "from", textKey: "value")
      if prompt.system == nil, let system = try fields.optionalString("system"), !system.isEmpty {
        prompt.system = system
      }
      pair = PreferencePair(
        prompt: prompt, chosen: try fields.object("chosen").string("value"),
        rejected: try fields.object("rejected").string("value"))
    case .hhRLHF:
      let prompt = try Self.roleMessages(
        fields.array("context"), field: "context", roleKey: "role", textKey: "text")
      pair = PreferencePair(
        prompt: prompt, chosen: try fields.object("chosen").string("text"),
        rejected: try fields.object("rejected").string("text"))
    case .cvalues:
      pair = PreferencePair(
        prompt: Conversation(messages: [Message(role: .user, content: try fields.string("prompt"))]
        ),
        chosen: try fields.string("pos_resp"), rejected: try fields.string("neg_resp"))
    default:
      preconditionFailure("decodePreference: \(self) is not a JSON preference format")
    }
    try Self.validate(pair)
    return pair
  }

  /// Decodes one TSV line `prompt<TAB>chosen<TAB>rejected` (extra columns are ignored).
  static func decodeTSV(_ line: String) throws(RecordRejection) -> PreferencePair {
    let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
    guard columns.count >= 3 else {
      throw RecordRejection(
        .missingField, "\(columns.count) columns, expected prompt, chosen, rejected")
    }
    let pair = PreferencePair(
      prompt: Conversation(messages: [Message(role: .user, content: String(columns[0]))]),
      chosen: String(columns[1]), rejected: String(columns[2]))
    try validate(pair)
    return pair
  }

  /// A pair needs a prompt ending with the user's turn and two non-empty replies.
  static func validate(_ pair: PreferencePair) throws(RecordRejection) {
    try validate(pair.prompt, endsWithAssistant: false)
    guard pair.prompt.messages.last?.role == .user else {
      throw RecordRejection(.missingField, "the prompt does not end with a user message")
    }
    try requireNonEmpty(pair.chosen, field: "chosen")
    try requireNonEmpty(pair.rejected, field: "rejected")
  }
}
