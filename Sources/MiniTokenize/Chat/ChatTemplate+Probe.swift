extension ChatTemplate {
  /// The template a published Jinja `chat_template` (a GGUF file's `tokenizer.chat_template`,
  /// a `tokenizer_config.json` MiniLLM did not write) lays conversations out with, found by
  /// rendering it on marker messages: the text around each marker gives each role's prefix and
  /// suffix, BOS and the end-of-turn token (the first of `specialTokens` after an assistant
  /// reply). Templates whose layout is a prefix and a suffix per role (ChatML and Qwen2,
  /// Llama 3, Zephyr, Gemma, Phi-3 …) read this way; the conversation then renders to the text
  /// the Jinja template renders.
  /// - Parameters:
  ///   - jinja: the template source.
  ///   - bosToken: the `bos_token` the template may print.
  ///   - eosToken: the `eos_token` the template may print.
  ///   - specialTokens: the pieces the tokenizer keeps whole (control and user-defined tokens).
  /// - Returns: the template, and the system prompt the template inserts when a conversation
  ///   has none (Qwen2's), if any.
  /// - Throws: `JinjaError` when the template does not render, or `ChatTemplateError.invalidSpec`
  ///   when its layout is not a prefix and suffix per role.
  public static func probing(
    jinja: String, bosToken: String?, eosToken: String?, specialTokens: [String]
  ) throws -> (template: ChatTemplate, defaultSystemPrompt: String?) {
    let template = try JinjaTemplate(jinja)
    var tokens: [String: String] = [:]
    if let bosToken { tokens["bos_token"] = bosToken }
    if let eosToken { tokens["eos_token"] = eosToken }
    let (system, user, reply, next) = ("\u{E000}S", "\u{E001}U", "\u{E002}A", "\u{E003}V")
    func render(_ messages: [(String, String)]) throws -> String {
      try template.renderChat(
        messages: messages.map { JinjaValue.message(role: $0.0, content: $0.1) },
        addGenerationPrompt: true, specialTokens: tokens)
    }
    func fail(_ why: String) -> ChatTemplateError {
      .invalidSpec(path: "chat_template", message: why)
    }
    let exchange = [("user", user), ("assistant", reply), ("user", next)]
    let plain = try render(exchange)
    let withSystem = try? render([("system", system)] + exchange)
    // The pieces between markers, in order.
    func pieces(_ text: String, _ markers: [String]) throws -> [String] {
      var result: [String] = []
      var rest = Substring(text)
      for marker in markers {
        guard let range = rest.range(of: marker) else {
          throw fail("the template drops a message's content")
        }
        result.append(String(rest[..<range.lowerBound]))
        rest = rest[range.upperBound...]
      }
      return result + [String(rest)]
    }
    let whole = specialTokens.filter { !$0.isEmpty }
    let p = try pieces(plain, [user, reply, next])
    // p: [head + user prefix, user suffix + assistant prefix, reply tail + user prefix,
    //     user suffix + assistant prefix (the generation prompt)]
    guard p[1] == p[3] else { throw fail("the generation prompt differs from a reply's prefix") }
    var head = p[0]
    var addsBOS = false
    if let bosToken, !bosToken.isEmpty, head.hasPrefix(bosToken) {
      addsBOS = true
      head.removeFirst(bosToken.count)
    }
    guard
      let end = whole.compactMap({ token in p[2].range(of: token).map { (token, $0) } })
        .min(by: { $0.1.lowerBound < $1.1.lowerBound })
    else { throw fail("no special token ends the assistant's reply") }
    let replySuffix = String(p[2][..<end.1.lowerBound])
    let afterReply = String(p[2][end.1.upperBound...])
    // The user prefix: a tail of the text after a reply that the conversation's head also ends
    // with (the head may hold a default system prompt before it); the longest that starts with
    // a special token, else the longest.
    var candidates: [String] = []
    var index = afterReply.startIndex
    while index < afterReply.endIndex {
      if head.hasSuffix(afterReply[index...]) { candidates.append(String(afterReply[index...])) }
      index = afterReply.index(after: index)
    }
    let userPrefix =
      candidates.first { candidate in whole.contains { candidate.hasPrefix($0) } }
      ?? candidates.first ?? ""
    let afterEOS = String(afterReply.dropLast(userPrefix.count))
    let defaultHead = String(head.dropLast(userPrefix.count))
    // A user message is always followed by the assistant's prefix: the text between them is
    // kept whole as that prefix.
    let (userSuffix, assistantPrefix) = ("", p[1])
    var systemFormat: RoleFormat?
    var defaultSystem: String?
    if let withSystem {
      let s = try pieces(withSystem, [system, user, reply, next])
      var systemHead = s[0]
      if addsBOS, let bosToken { systemHead = String(systemHead.dropFirst(bosToken.count)) }
      guard s[1].hasSuffix(userPrefix) else {
        throw fail("the system message is not followed by the user's prefix")
      }
      let format = RoleFormat(prefix: systemHead, suffix: String(s[1].dropLast(userPrefix.count)))
      systemFormat = format
      if !defaultHead.isEmpty {
        guard defaultHead.hasPrefix(format.prefix), defaultHead.hasSuffix(format.suffix),
          defaultHead.count >= format.prefix.count + format.suffix.count
        else { throw fail("text before the first user message that is not a system prompt") }
        defaultSystem = String(
          defaultHead.dropFirst(format.prefix.count).dropLast(format.suffix.count))
      }
    } else if !defaultHead.isEmpty {
      throw fail("text before the first user message, and no system role")
    }
    let affixes =
      [userPrefix, userSuffix, assistantPrefix, replySuffix, afterEOS]
      + [systemFormat?.prefix ?? "", systemFormat?.suffix ?? ""]
    let used = whole.filter { token in token != end.0 && affixes.contains { $0.contains(token) } }
    let result = ChatTemplate(
      name: "jinja", system: systemFormat, user: RoleFormat(prefix: userPrefix, suffix: userSuffix),
      assistant: RoleFormat(prefix: assistantPrefix, suffix: replySuffix), eos: end.0,
      afterEOS: afterEOS, specialTokens: used, addsBOS: addsBOS)
    return (result, defaultSystem)
  }
}
