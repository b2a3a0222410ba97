import Foundation
import MiniLlama
import MiniTokenize
import PipelineTestSupport
import TestSupport
import Testing

@Suite("ChatSession")
struct ChatSessionTests {
  /// The messages of `exchanges` followed by the user's `message`.
  static func messages(_ exchanges: [ChatExchange], then message: String) -> [Message] {
    exchanges.flatMap {
      [Message(role: .user, content: $0.user), Message(role: .assistant, content: $0.assistant)]
    } + [Message(role: .user, content: message)]
  }

  @Test func historyLimitKeepsTheLatestExchanges() throws {
    let tokenizer = try tinyChatTokenizer()
    let path = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 256)
    let system = "你是小助手"
    let session = try ChatSession(
      directory: path,
      options: ChatOptions(
        systemPrompt: system, historyLimit: 2, maxNewTokens: 4, sampling: .greedy))
    let messages = ["你好", "hello world", "我是谁", "the model", "春眠不觉晓"]
    var all: [ChatExchange] = []
    for (index, message) in messages.enumerated() {
      let reply = try session.respond(to: message)
      let turn = try #require(session.lastTurn)
      let expected = try session.renderer.renderPrompt(
        for: Conversation(system: system, messages: Self.messages(all.suffix(2), then: message)))
      #expect(turn.prompt == expected, "turn \(index)")
      #expect(turn.droppedByLimit == (index >= 2 ? 1 : 0), "turn \(index)")
      #expect(turn.droppedByBudget == 0)
      all.append(ChatExchange(user: message, assistant: reply))
      #expect(session.history == Array(all.suffix(2)), "turn \(index)")
    }
  }

  @Test func transcriptListsTheSystemPromptAndTheKeptExchanges() throws {
    let tokenizer = try tinyChatTokenizer()
    let path = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 256)
    let session = try ChatSession(
      directory: path, options: ChatOptions(historyLimit: 1, maxNewTokens: 3, sampling: .greedy))
    #expect(session.transcript == "(no history)\n")
    session.options.systemPrompt = "你是小助手"
    let first = try session.respond(to: "你好")
    #expect(session.transcript == "system: 你是小助手\nuser: 你好\nassistant: \(first)\n")
    let second = try session.respond(to: "hello world")
    #expect(
      session.transcript == "system: 你是小助手\nuser: hello world\nassistant: \(second)\n",
      "the history limit drops the first exchange")
    session.reset()
    #expect(session.transcript == "system: 你是小助手\n(no history)\n")
  }

  @Test func historyLimitZeroAnswersEachMessageAlone() throws {
    let tokenizer = try tinyChatTokenizer()
    let path = try makeChatModelDirectory(tokenizer: tokenizer)
    let session = try ChatSession(
      directory: path, options: ChatOptions(historyLimit: 0, maxNewTokens: 4, sampling: .greedy))
    for message in ["你好", "hello"] {
      try session.respond(to: message)
      let expected = try session.renderer.renderPrompt(
        for: Conversation(messages: [Message(role: .user, content: message)]))
      #expect(session.lastTurn?.prompt == expected)
      #expect(session.history.isEmpty)
    }
  }

  @Test func tokenBudgetDropsTheOldestExchangesAndKeepsTheSystemPrompt() throws {
    let tokenizer = try tinyChatTokenizer()
    let maxPositions = 96
    let path = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: maxPositions)
    let system = "你是一个小助手 be brief"
    let session = try ChatSession(
      directory: path,
      options: ChatOptions(systemPrompt: system, maxNewTokens: 8, sampling: .greedy))
    #expect(session.tokenBudget == maxPositions - 8)
    let header = try session.renderer.render(Conversation(system: system, messages: [])).ids
    var all: [ChatExchange] = []
    var kept = 0  // how many of `all` the session still holds
    var totalDropped = 0
    for index in 0..<7 {
      let message = "第\(index)个问题 床前明月光 hello world"
      let reply = try session.respond(to: message)
      let turn = try #require(session.lastTurn)
      #expect(turn.prompt.count <= session.tokenBudget)
      #expect(turn.prompt.starts(with: header), "the system prompt heads every prompt")
      // The prompt holds the latest exchanges that fit: one more would not.
      kept -= turn.droppedByBudget
      let used = Array(all.suffix(kept))
      let expected = try session.renderer.renderPrompt(
        for: Conversation(system: system, messages: Self.messages(used, then: message)))
      #expect(turn.prompt == expected, "turn \(index)")
      if kept < all.count {
        let longer = try session.renderer.renderPrompt(
          for: Conversation(
            system: system, messages: Self.messages(Array(all.suffix(kept + 1)), then: message)))
        #expect(longer.count > session.tokenBudget, "turn \(index) dropped more than needed")
      }
      totalDropped += turn.droppedByBudget
      all.append(ChatExchange(user: message, assistant: reply))
      kept += 1
      #expect(session.history == Array(all.suffix(kept)))
    }
    #expect(totalDropped > 0, "the conversation should outgrow \(session.tokenBudget) tokens")
    #expect(session.history.count < all.count)
  }

  @Test func aMessageLongerThanTheBudgetIsRefusedAndChangesNothing() throws {
    let tokenizer = try tinyChatTokenizer()
    let path = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 64)
    let session = try ChatSession(
      directory: path, options: ChatOptions(maxNewTokens: 8, sampling: .greedy))
    try session.respond(to: "你好")
    let before = session.history
    let long = String(repeating: "床前明月光 hello world ", count: 10)
    let error = #expect(throws: ChatSessionError.self) { try session.respond(to: long) }
    guard case .messageTooLong(let tokens, let budget)? = error else {
      Issue.record("expected messageTooLong, got \(String(describing: error))")
      return
    }
    #expect(budget == 56)
    #expect(tokens > budget)
    #expect(session.history == before)
    try session.respond(to: "hello")
    #expect(session.history.count == 2)
  }

  @Test func resetAnswersAsANewSession() throws {
    let tokenizer = try tinyChatTokenizer()
    let path = try makeChatModelDirectory(tokenizer: tokenizer)
    let options = ChatOptions(
      systemPrompt: "sys", maxNewTokens: 12,
      sampling: SamplingOptions(temperature: 1, topK: 30, topP: 0.9, seed: 4))
    let session = try ChatSession(directory: path, options: options)
    let first = try session.respond(to: "你好")
    try session.respond(to: "hello world")
    #expect(session.history.count == 2)
    session.reset()
    #expect(session.history.isEmpty)
    #expect(session.lastTurn == nil)
    let again = try session.respond(to: "你好")
    #expect(again == first)
    let fresh = try ChatSession(directory: path, options: options)
    #expect(try fresh.respond(to: "你好") == first)
    #expect(fresh.lastTurn == session.lastTurn)
  }

  @Test func reusingTheCacheGivesTheSameRepliesAsRecomputing() throws {
    let tokenizer = try tinyChatTokenizer()
    let path = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 192)
    var options = ChatOptions(
      systemPrompt: "你是小助手", maxNewTokens: 10,
      sampling: SamplingOptions(temperature: 0.8, topK: 50, topP: 0.95, seed: 7))
    let reusing = try ChatSession(directory: path, options: options)
    options.reusesCache = false
    let recomputing = try ChatSession(directory: path, options: options)
    var previousPrompt = 0
    for (index, message) in ["你好", "hello world", "我是谁", "the small model"].enumerated() {
      let a = try reusing.respond(to: message)
      let b = try recomputing.respond(to: message)
      #expect(a == b, "turn \(index)")
      let turn = try #require(reusing.lastTurn)
      #expect(turn.replyTokens == recomputing.lastTurn?.replyTokens)
      #expect(recomputing.lastTurn?.reusedTokens == 0)
      if index > 0 {
        // The previous prompt is a prefix of this one, so all of it is reused.
        #expect(turn.reusedTokens >= previousPrompt, "turn \(index)")
      }
      previousPrompt = turn.prompt.count
    }
  }

  @Test(arguments: ["chatml", "human-robot"])
  func stopsAtTheEndOfTurnToken(templateName: String) throws {
    let tokenizer = try tinyChatTokenizer()
    let template = try #require(ChatTemplate.builtIn[templateName])
    let renderer = try ChatRenderer(template: template, tokenizer: tokenizer)
    let word = try #require(try tokenizer.encode("hello").first)
    let end = Int(renderer.endOfTurnID)
    // Half the probability on the word, half on the end of turn: replies of k words, then end.
    let path = try makeChatModelDirectory(
      tokenizer: tokenizer, template: template, edit: favouring([word: 30, end: 30]))
    var longest = 0
    for seed in UInt64(0)..<8 {
      let session = try ChatSession(
        directory: path,
        options: ChatOptions(
          maxNewTokens: 48, sampling: SamplingOptions(temperature: 1, seed: seed)))
      let reply = try session.respond(to: "你好")
      let turn = try #require(session.lastTurn)
      #expect(turn.finishReason == .stopToken)
      #expect(turn.replyTokens.last == Int32(end))
      #expect(turn.replyTokens.dropLast().allSatisfy { $0 == Int32(word) })
      #expect(reply == (try tokenizer.decode(turn.replyTokens.dropLast().map(Int.init))))
      longest = max(longest, turn.replyTokens.count - 1)
    }
    #expect(longest > 0, "some reply should hold words before the end of turn")
  }

  @Test func repliesEndAtMaxNewTokensWithoutAStopToken() throws {
    let tokenizer = try tinyChatTokenizer()
    let word = try #require(tokenizer.encode("hello").first)
    let path = try makeChatModelDirectory(tokenizer: tokenizer, edit: favouring([word: 30]))
    let session = try ChatSession(
      directory: path, options: ChatOptions(maxNewTokens: 5, sampling: .greedy))
    let reply = try session.respond(to: "hi")
    #expect(session.lastTurn?.finishReason == .length)
    #expect(session.lastTurn?.replyTokens == Array(repeating: Int32(word), count: 5))
    #expect(reply == (try tokenizer.decode(Array(repeating: word, count: 5))))
  }

  @Test func streamedPiecesConcatenateToTheReply() throws {
    let tokenizer = try tinyChatTokenizer()
    // A random model over a vocabulary that is mostly byte pieces: replies are byte soup,
    // with complete and broken multi-byte characters.
    let path = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 256, seed: 9)
    let session = try ChatSession(
      directory: path,
      options: ChatOptions(
        maxNewTokens: 80, sampling: SamplingOptions(temperature: 1.5, seed: 3)))
    for message in ["你好", "hello"] {
      var pieces: [String] = []
      let reply = try session.respond(to: message) { pieces.append($0) }
      let turn = try #require(session.lastTurn)
      let replyIDs = turn.replyTokens.filter { !session.stopTokenIDs.contains($0) }
      #expect(reply == (try tokenizer.decode(replyIDs.map(Int.init))))
      #expect(pieces.joined() == reply)
      #expect(pieces.allSatisfy { !$0.isEmpty })
    }
  }
}
