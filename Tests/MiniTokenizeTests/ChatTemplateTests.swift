import Foundation
import MiniTokenize
import TestSupport
import Testing

/// Expected ids and mask built part by part with independent `encode` calls.
struct ExpectedChat {
  let tokenizer: SentencePieceTokenizer
  var ids: [Int32] = []
  var mask: [UInt8] = []

  init(_ tokenizer: SentencePieceTokenizer) { self.tokenizer = tokenizer }

  mutating func text(_ text: String, supervised: Bool = false) throws {
    let encoded = try tokenizer.encode(text).map(Int32.init)
    ids += encoded
    mask += Array(repeating: supervised ? 1 : 0, count: encoded.count)
  }

  mutating func piece(_ piece: String, supervised: Bool = false) throws {
    let id = try #require(tokenizer.id(for: piece), "no piece \(piece)")
    ids.append(Int32(id))
    mask.append(supervised ? 1 : 0)
  }
}

@Suite("ChatTemplate")
struct ChatTemplateTests {
  static let conversation = Conversation(
    system: "你是一个助手",
    messages: [
      Message(role: .user, content: "床前明月光"),
      Message(role: .assistant, content: "疑是地上霜。"),
      Message(role: .user, content: "hello world"),
      Message(role: .assistant, content: "the model learns"),
    ])

  @Test func chatmlSingleTurnIdsAndMask() throws {
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let conversation = Conversation(messages: [
      Message(role: .user, content: "你好"), Message(role: .assistant, content: "hello 世界"),
    ])
    let chat = try renderer.render(conversation)
    var expected = ExpectedChat(tokenizer)
    try expected.piece("<|im_start|>")
    try expected.text("user\n")
    try expected.text("你好")
    try expected.piece("<|im_end|>")
    try expected.text("\n")
    try expected.piece("<|im_start|>")
    try expected.text("assistant\n")
    try expected.text("hello 世界", supervised: true)
    try expected.piece("<|im_end|>", supervised: true)
    try expected.text("\n")
    #expect(chat.ids == expected.ids)
    #expect(chat.lossMask == expected.mask)
    #expect(chat.headerCount == 0)
    #expect(chat.exchangeStarts == [0])
    #expect(chat.supervisedCount == (try tokenizer.encode("hello 世界")).count + 1)
    #expect(try tokenizer.decode(chat.ids.map(Int.init)) == renderer.text(of: conversation))
  }

  @Test func chatmlMultiTurnWithSystemPrompt() throws {
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let conversation = Self.conversation
    let chat = try renderer.render(conversation)
    var expected = ExpectedChat(tokenizer)
    try expected.piece("<|im_start|>")
    try expected.text("system\n")
    try expected.text(conversation.system!)
    try expected.piece("<|im_end|>")
    try expected.text("\n")
    let header = expected.ids.count
    var starts: [Int] = []
    for message in conversation.messages {
      let assistant = message.role == .assistant
      if !assistant { starts.append(expected.ids.count) }
      try expected.piece("<|im_start|>")
      try expected.text("\(message.role.rawValue)\n")
      try expected.text(message.content, supervised: assistant)
      try expected.piece("<|im_end|>", supervised: assistant)
      try expected.text("\n")
    }
    #expect(chat.ids == expected.ids)
    #expect(chat.lossMask == expected.mask)
    #expect(chat.headerCount == header)
    #expect(chat.exchangeStarts == starts)
    #expect(try tokenizer.decode(chat.ids.map(Int.init)) == renderer.text(of: conversation))
    #expect(
      try renderer.text(of: conversation)
        == "<|im_start|>system\n你是一个助手<|im_end|>\n<|im_start|>user\n床前明月光<|im_end|>\n"
        + "<|im_start|>assistant\n疑是地上霜。<|im_end|>\n<|im_start|>user\nhello world<|im_end|>\n"
        + "<|im_start|>assistant\nthe model learns<|im_end|>\n")
  }

  @Test func humanRobotUsesEOSAfterEveryReply() throws {
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .humanRobot, tokenizer: tokenizer)
    let eos = try #require(tokenizer.specialIDs.eos)
    #expect(renderer.endOfTurnID == Int32(eos))
    var conversation = Self.conversation
    conversation.system = nil
    let chat = try renderer.render(conversation)
    var expected = ExpectedChat(tokenizer)
    for message in conversation.messages {
      if message.role == .user {
        try expected.text("<human>")
        try expected.text(message.content)
      } else {
        try expected.text("<robot>")
        try expected.text(message.content, supervised: true)
        expected.ids.append(Int32(eos))
        expected.mask.append(1)
      }
    }
    #expect(chat.ids == expected.ids)
    #expect(chat.lossMask == expected.mask)
    #expect(
      try renderer.text(of: conversation)
        == "<human>床前明月光<robot>疑是地上霜。</s><human>hello world<robot>the model learns</s>")
    let prompt = try renderer.renderPrompt(
      for: Conversation(messages: [Message(role: .user, content: "你好")]))
    #expect(
      prompt
        == (try tokenizer.encode("<human>") + tokenizer.encode("你好") + tokenizer.encode("<robot>"))
        .map(Int32.init))
  }

  @Test(arguments: ["chatml", "human-robot"])
  func promptPlusReplyEqualsTheTrainingRendering(name: String) throws {
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: try ChatTemplate.named(name), tokenizer: tokenizer)
    var conversation = Self.conversation
    if name == "human-robot" { conversation.system = nil }
    let reply = conversation.messages.removeLast()
    let prompt = try renderer.renderPrompt(for: conversation)
    let answer = try renderer.renderReply(reply.content)
    conversation.messages.append(reply)
    let full = try renderer.render(conversation)
    let tail = try tokenizer.encode(renderer.template.afterEOS).count
    #expect(prompt + answer == Array(full.ids.dropLast(tail)))
    // The reply's tokens are exactly the supervised tokens of the last turn.
    let lastStart = full.exchangeStarts.last!
    let supervised = zip(full.ids[lastStart...], full.lossMask[lastStart...]).filter { $1 == 1 }
    #expect(supervised.map(\.0) == answer)
    #expect(answer.last == renderer.endOfTurnID)
    #expect(renderer.stopTokenIDs.first == Int(renderer.endOfTurnID))
    #expect(
      try renderer.text(of: conversation).hasPrefix(
        try renderer.text(
          of: Conversation(
            system: conversation.system, messages: Array(conversation.messages.dropLast())),
          addGenerationPrompt: true)))
  }

  @Test func promptMustEndWithUser() throws {
    let renderer = try ChatRenderer(template: .chatml, tokenizer: try trainTinyModel())
    #expect(throws: ChatTemplateError.promptDoesNotEndWithUser) {
      try renderer.renderPrompt(for: Self.conversation)
    }
  }

  @Test func specialTokensAreNeverSplitAndMissingOnesAreNamed() throws {
    let plain = try trainTinyModel(specials: [])
    #expect(
      throws: ChatTemplateError.missingSpecialToken(template: "chatml", token: "<|im_start|>")
    ) {
      try ChatRenderer(template: .chatml, tokenizer: plain)
    }
    // human-robot needs no user-defined symbol.
    let renderer = try ChatRenderer(template: .humanRobot, tokenizer: plain)
    #expect(try renderer.render(Self.conversation.droppingSystem).ids.isEmpty == false)
  }

  @Test func unsupportedRolesThrow() throws {
    let renderer = try ChatRenderer(template: .humanRobot, tokenizer: try trainTinyModel())
    let withTool = Conversation(messages: [
      Message(role: .user, content: "1+1"), Message(role: .tool, content: "2"),
      Message(role: .assistant, content: "2"),
    ])
    #expect(throws: ChatTemplateError.unsupportedRole(template: "human-robot", role: .tool)) {
      try renderer.render(withTool)
    }
    let chatml = try ChatRenderer(template: .chatml, tokenizer: try trainTinyModel())
    let rendered = try chatml.render(withTool)
    #expect(rendered.supervisedCount == 2)  // "2" and <|im_end|>: the tool answer is context
  }

  @Test func customSpecFromJSON() throws {
    let directory = try temporaryDirectory()
    let path = try writeFile(
      #"""
      {"name": "zephyr",
       "system": {"prefix": "<|system|>\n", "suffix": "</s>\n"},
       "user": {"prefix": "<|user|>\n", "suffix": "</s>\n"},
       "assistant": {"prefix": "<|assistant|>\n"},
       "eos": "</s>", "after_eos": "\n", "bos": true,
       "special_tokens": ["<|system|>", "<|user|>", "<|assistant|>"]}
      """#, named: "zephyr.json", in: directory)
    let template = try ChatTemplate(contentsOf: path)
    #expect(template.name == "zephyr")
    #expect(template.assistant == ChatTemplate.RoleFormat(prefix: "<|assistant|>\n", suffix: ""))
    #expect(template.addsBOS)
    let tokenizer = try trainTinyModel(specials: ["<|system|>", "<|user|>", "<|assistant|>"])
    let renderer = try ChatRenderer(template: template, tokenizer: tokenizer)
    let chat = try renderer.render(Self.conversation)
    var expected = ExpectedChat(tokenizer)
    expected.ids.append(Int32(try #require(tokenizer.specialIDs.bos)))
    expected.mask.append(0)
    try expected.piece("<|system|>")
    try expected.text("\n")
    try expected.text(Self.conversation.system!)
    try expected.piece("</s>")
    try expected.text("\n")
    let header = expected.ids.count
    for message in Self.conversation.messages {
      let assistant = message.role == .assistant
      try expected.piece("<|\(message.role.rawValue)|>")
      try expected.text("\n")
      try expected.text(message.content, supervised: assistant)
      try expected.piece("</s>", supervised: assistant)
      try expected.text("\n")
    }
    #expect(chat.ids == expected.ids)
    #expect(chat.lossMask == expected.mask)
    #expect(chat.headerCount == header)
    // Round trip through the index's encoding.
    let data = try JSONEncoder().encode(template)
    #expect(try JSONDecoder().decode(ChatTemplate.self, from: data) == template)
  }

  @Test(arguments: [
    (#"{"name": "x", "user": {"prefix": "U"}, "assistant": {"prefix": "A"}}"#, "missing key 'eos'"),
    (
      #"{"name": "x", "user": {"prefix": "U"}, "assistant": {"prefix": "A"}, "eos": "</s>", "sytem": {"prefix": ""}}"#,
      "unknown key 'sytem'"
    ),
    (
      #"{"name": "x", "user": {"prefix": "U", "sufix": ""}, "assistant": {"prefix": "A"}, "eos": "</s>"}"#,
      "unknown key 'sufix'"
    ),
    (
      #"{"name": "x", "user": {"prefix": "U"}, "assistant": {"prefix": "A"}, "eos": ""}"#,
      "'eos' is empty"
    ),
    (
      #"{"name": "x", "user": {"prefix": 3}, "assistant": {"prefix": "A"}, "eos": "</s>"}"#,
      "user.prefix"
    ),
    ("not json", "invalid chat template"),
  ])
  func badSpecsAreNamed(json: String, fragment: String) throws {
    let directory = try temporaryDirectory()
    let path = try writeFile(json, named: "spec.json", in: directory)
    do {
      _ = try ChatTemplate(contentsOf: path)
      Issue.record("\(json) was accepted")
    } catch {
      let message = "\(error)"
      #expect(message.contains(path) && message.contains(fragment), "\(message)")
    }
    #expect(throws: ChatTemplateError.self) { try ChatTemplate.named("no-such-template") }
  }

  @Test func jinjaLiteralsEscapeQuotesBackslashesAndControls() {
    let template = ChatTemplate(
      name: "it's", system: nil, user: .init(prefix: "a'b\\c\n\t"), assistant: .init(prefix: "好"),
      eos: "</s>")
    let jinja = template.jinja
    #expect(jinja.contains(#"'a\'b\\c\n\t'"#))
    #expect(jinja.contains("'好'"))
    #expect(jinja.contains(#"template it\'s has no format for system messages"#))
    #expect(!jinja.contains("\n"))
  }

  @Test func keepingLatestExchangesDropsTheOldestFirst() throws {
    let renderer = try ChatRenderer(template: .chatml, tokenizer: try trainTinyModel())
    let chat = try renderer.render(Self.conversation)
    let lastExchange = chat.ids.count - chat.exchangeStarts[1]
    let (kept, dropped) = try #require(
      chat.keepingLatestExchanges(fitting: chat.headerCount + lastExchange))
    #expect(dropped == 1)
    #expect(kept.ids == Array(chat.ids[..<chat.headerCount] + chat.ids[chat.exchangeStarts[1]...]))
    #expect(kept.lossMask.count == kept.ids.count)
    #expect(kept.exchangeStarts == [chat.headerCount])
    #expect(chat.keepingLatestExchanges(fitting: chat.headerCount + lastExchange - 1) == nil)
    #expect(chat.keepingLatestExchanges(fitting: chat.ids.count)?.droppedExchanges == 0)
  }
}

extension Conversation {
  var droppingSystem: Conversation { Conversation(messages: messages) }
}
