/// A `ChatTemplate` bound to a tokenizer: renders conversations to ids and loss masks.
///
/// Training data (`minillm data sft|dpo`) and inference prompts go through the same
/// `render(_:generationPrompt:)`, so a model sees at chat time exactly the token boundaries it
/// was trained on. Each part is encoded on its own: a template's special tokens map to their
/// single ids and are never split, and text never merges with the text of a neighbouring part
/// (a reply's last characters cannot fuse with the end-of-turn marker or the next role's
/// prefix). The affixes are encoded once, when the renderer is made.
///
/// Sendable: the stored tokenizer is `Sendable` and everything else is immutable.
public struct ChatRenderer: Sendable {
  /// The template.
  public let template: ChatTemplate
  /// The tokenizer.
  public let tokenizer: any Tokenizer
  /// The id of `template.eos`, which ends every assistant reply.
  public let endOfTurnID: Int32
  /// The ids of `template.specialTokens`, in the template's order.
  public let specialTokenIDs: [Int]

  private let affixes: [Role: (prefix: [Int32], suffix: [Int32])]
  private let afterEOS: [Int32]
  private let bos: Int32?

  /// Binds `template` to `tokenizer`.
  /// - Throws: `ChatTemplateError.missingSpecialToken` when a special token or the
  ///   end-of-turn token is not a single piece of the tokenizer (or the template adds BOS and
  ///   the tokenizer has none); `TokenizerError` when encoding an affix fails.
  public init(template: ChatTemplate, tokenizer: any Tokenizer) throws {
    self.template = template
    self.tokenizer = tokenizer
    var special: [String: Int32] = [:]
    for token in template.wholeTokens {
      guard let id = tokenizer.id(for: token) else {
        throw ChatTemplateError.missingSpecialToken(template: template.name, token: token)
      }
      special[token] = Int32(id)
    }
    endOfTurnID = special[template.eos]!
    specialTokenIDs = template.specialTokens.map { Int(special[$0]!) }
    if template.addsBOS {
      guard let bos = tokenizer.specialIDs.bos else {
        throw ChatTemplateError.missingSpecialToken(template: template.name, token: "BOS")
      }
      self.bos = Int32(bos)
    } else {
      bos = nil
    }
    let whole = template.wholeTokens
    func encode(_ text: String) throws -> [Int32] {
      var ids: [Int32] = []
      try Self.encode(text, wholeTokens: whole, ids: special, tokenizer: tokenizer, into: &ids)
      return ids
    }
    var affixes: [Role: (prefix: [Int32], suffix: [Int32])] = [:]
    for role in Role.allCases {
      if let format = template.format(of: role) {
        affixes[role] = (try encode(format.prefix), try encode(format.suffix))
      }
    }
    self.affixes = affixes
    afterEOS = try encode(template.afterEOS)
  }

  /// Renders `conversation` (its system prompt, then its messages in order).
  /// - Parameters:
  ///   - generationPrompt: append the assistant's prefix, so the model's continuation is the
  ///     reply (for inference and DPO prompts; the conversation should end with the user).
  /// - Returns: ids, loss mask (see `RenderedChat`), header length and exchange boundaries.
  /// - Throws: `ChatTemplateError.unsupportedRole` for a role the template lacks;
  ///   `TokenizerError` when encoding fails.
  public func render(_ conversation: Conversation, generationPrompt: Bool = false) throws
    -> RenderedChat
  {
    var ids: [Int32] = []
    var mask: [UInt8] = []
    ids.reserveCapacity(
      conversation.messages.reduce(conversation.system?.utf8.count ?? 0) {
        $0 + $1.content.utf8.count
      } / 2 + 16 * conversation.messages.count + 16)
    func append(_ part: [Int32], supervised: Bool) {
      ids.append(contentsOf: part)
      mask.append(contentsOf: repeatElement(supervised ? 1 : 0, count: part.count))
    }
    func append(text: String, supervised: Bool) throws {
      let start = ids.count
      try tokenizer.encode(text, appendingTo: &ids)
      mask.append(contentsOf: repeatElement(supervised ? 1 : 0, count: ids.count - start))
    }
    if let bos { append([bos], supervised: false) }
    if let system = conversation.system {
      guard let format = affixes[.system] else {
        throw ChatTemplateError.unsupportedRole(template: template.name, role: .system)
      }
      append(format.prefix, supervised: false)
      try append(text: system, supervised: false)
      append(format.suffix, supervised: false)
    }
    let headerCount = ids.count
    var exchangeStarts: [Int] = []
    for message in conversation.messages {
      guard let format = affixes[message.role] else {
        throw ChatTemplateError.unsupportedRole(template: template.name, role: message.role)
      }
      if message.role == .user || exchangeStarts.isEmpty { exchangeStarts.append(ids.count) }
      append(format.prefix, supervised: false)
      if message.role == .assistant {
        try append(text: message.content, supervised: true)
        append(format.suffix, supervised: true)
        append([endOfTurnID], supervised: true)
        append(afterEOS, supervised: false)
      } else {
        try append(text: message.content, supervised: false)
        append(format.suffix, supervised: false)
      }
    }
    if generationPrompt {
      if exchangeStarts.isEmpty { exchangeStarts.append(ids.count) }
      append(affixes[.assistant]!.prefix, supervised: false)
    }
    return RenderedChat(
      ids: ids, lossMask: mask, headerCount: headerCount, exchangeStarts: exchangeStarts)
  }

  /// The ids of a prompt for the model to answer: `conversation` (which must end with the
  /// user's message) rendered with the generation prompt, ending with the assistant's prefix.
  /// Generation stops at `endOfTurnID`.
  /// - Throws: `ChatTemplateError.promptDoesNotEndWithUser`, or what `render` throws.
  public func renderPrompt(for conversation: Conversation) throws -> [Int32] {
    try prompt(for: conversation).ids
  }

  /// `renderPrompt(for:)` with the header length and exchange boundaries, for truncation.
  public func prompt(for conversation: Conversation) throws -> RenderedChat {
    guard conversation.messages.last?.role == .user else {
      throw ChatTemplateError.promptDoesNotEndWithUser
    }
    return try render(conversation, generationPrompt: true)
  }

  /// The ids an assistant reply adds after a prompt from `renderPrompt(for:)`: the reply's
  /// tokens, the assistant's suffix and the end-of-turn token (all supervised). The prompt
  /// followed by these ids equals `render` of the conversation with the reply appended, less
  /// the template's unsupervised text after the end-of-turn token.
  public func renderReply(_ text: String) throws -> [Int32] {
    var ids: [Int32] = []
    try tokenizer.encode(text, appendingTo: &ids)
    ids.append(contentsOf: affixes[.assistant]!.suffix)
    ids.append(endOfTurnID)
    return ids
  }

  /// The text `render` tokenises, part by part: what Python's `apply_chat_template` renders
  /// from `template.jinja` for the same messages (BOS as the tokenizer's BOS piece).
  /// - Throws: `ChatTemplateError.unsupportedRole` for a role the template lacks.
  public func text(of conversation: Conversation, addGenerationPrompt: Bool = false)
    throws(ChatTemplateError) -> String
  {
    var text = ""
    if template.addsBOS, let bos, let piece = tokenizer.piece(for: Int(bos)) { text += piece }
    if let system = conversation.system {
      guard let format = template.system else {
        throw .unsupportedRole(template: template.name, role: .system)
      }
      text += format.prefix + system + format.suffix
    }
    for message in conversation.messages {
      guard let format = template.format(of: message.role) else {
        throw .unsupportedRole(template: template.name, role: message.role)
      }
      text += format.prefix + message.content + format.suffix
      if message.role == .assistant { text += template.eos + template.afterEOS }
    }
    if addGenerationPrompt { text += template.assistant.prefix }
    return text
  }

  /// The ids generation should stop at: the end-of-turn token and the tokenizer's EOS.
  public var stopTokenIDs: [Int] {
    var ids = [Int(endOfTurnID)]
    if let eos = tokenizer.specialIDs.eos, eos != Int(endOfTurnID) { ids.append(eos) }
    return ids
  }

  /// Encodes affix text: whole tokens map to their ids, the text between them is encoded on
  /// its own.
  private static func encode(
    _ text: String, wholeTokens: [String], ids: [String: Int32], tokenizer: any Tokenizer,
    into result: inout [Int32]
  ) throws {
    var rest = Substring(text)
    while !rest.isEmpty {
      var earliest: (range: Range<Substring.Index>, token: String)?
      for token in wholeTokens {
        if let range = rest.range(of: token),
          earliest == nil || range.lowerBound < earliest!.range.lowerBound
        {
          earliest = (range, token)
        }
      }
      guard let (range, token) = earliest else {
        try tokenizer.encode(String(rest), appendingTo: &result)
        return
      }
      if range.lowerBound > rest.startIndex {
        try tokenizer.encode(String(rest[..<range.lowerBound]), appendingTo: &result)
      }
      result.append(ids[token]!)
      rest = rest[range.upperBound...]
    }
  }
}
