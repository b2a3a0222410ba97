import Foundation
import MiniLlama
import MiniTokenize
import PipelineTestSupport
import TestSupport
import Testing

/// `minillm chat` and `minillm generate --chat` run as a user would: the built executable with
/// a script on standard input.
@Suite("minillm chat", .requires(.built("minillm")))
struct ChatCommandTests {
  /// The executable, or `nil` after recording why the calling test cannot run.
  static func executable(for test: String = #function) -> String? {
    builtExecutable(named: "minillm", for: test)
  }

  /// A model that always says `word` (greedy) and never ends its turn, and that reply.
  static func parrot(maxPositions: Int, replyTokens: Int) throws -> (path: String, reply: String) {
    let tokenizer = try tinyChatTokenizer()
    let word = try #require(tokenizer.encode("hello").first)
    let path = try makeChatModelDirectory(
      tokenizer: tokenizer, maxPositions: maxPositions, edit: favouring([word: 30]))
    return (path, try tokenizer.decode(Array(repeating: word, count: replyTokens)))
  }

  @Test func historyCommandsAndLimit() throws {
    guard let minillm = Self.executable() else { return }
    let (path, reply) = try Self.parrot(maxPositions: 256, replyTokens: 3)
    let script = [
      "first", "second", "third", "/history", "/reset", "/history", "", "fourth", "/history",
      "/exit", "never answered",
    ]
    let result = try run(
      minillm,
      [
        "chat", "--model", path, "--history", "2", "--max-new-tokens", "3", "--greedy",
        "--system", "be brief",
      ], input: script.joined(separator: "\n") + "\n")
    #expect(result.status == 0, "\(result.error)")
    let expected = [
      reply, reply, reply,
      "system: be brief", "user: second", "assistant: \(reply)", "user: third",
      "assistant: \(reply)",
      "[history cleared]",
      "system: be brief", "(no history)",
      reply,
      "system: be brief", "user: fourth", "assistant: \(reply)",
    ]
    #expect(
      result.output.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        == expected + [""])
  }

  /// `--temperature 0` is greedy decoding, as llama.cpp's `--temp 0` and OpenAI's
  /// `temperature: 0` are; a negative temperature is refused, naming the flag.
  @Test func temperatureZeroIsGreedy() throws {
    guard let minillm = Self.executable() else { return }
    let path = try makeChatModelDirectory(tokenizer: try tinyChatTokenizer(), maxPositions: 128)
    let input = "床前明月光\nhello\n"
    let greedy = try run(
      minillm, ["chat", "--model", path, "--max-new-tokens", "12", "--greedy"], input: input)
    let zero = try run(
      minillm, ["chat", "--model", path, "--max-new-tokens", "12", "--temperature", "0"],
      input: input)
    #expect(greedy.status == 0 && zero.status == 0, "\(greedy.error)\(zero.error)")
    #expect(!greedy.output.isEmpty && zero.output == greedy.output)
    let negative = try run(
      minillm, ["chat", "--model", path, "--temperature", "-1"], input: "hello\n")
    #expect(negative.status != 0 && negative.error.contains("--temperature"))
  }

  @Test func tokenBudgetDropsTheOldestExchanges() throws {
    guard let minillm = Self.executable() else { return }
    let (path, reply) = try Self.parrot(maxPositions: 64, replyTokens: 3)
    let messages = (0..<5).map { "第\($0)个问题 床前明月光" }
    let result = try run(
      minillm, ["chat", "--model", path, "--max-new-tokens", "3", "--greedy"],
      input: (messages + ["/history"]).joined(separator: "\n"))
    #expect(result.status == 0, "\(result.error)")
    let lines = result.output.split(separator: "\n").map(String.init)
    #expect(Array(lines.prefix(5)) == Array(repeating: reply, count: 5))
    let shown = lines.dropFirst(5).filter { $0.hasPrefix("user: ") }.map { String($0.dropFirst(6)) }
    // The same conversation through the library keeps the same exchanges.
    let session = try ChatSession(
      directory: path, options: ChatOptions(maxNewTokens: 3, sampling: .greedy))
    for message in messages { try session.respond(to: message) }
    #expect(shown == session.history.map(\.user))
    #expect(!shown.isEmpty && shown.count < messages.count)
    #expect(shown == Array(messages.suffix(shown.count)), "the latest exchanges are kept")
    #expect(result.error.contains("dropped"))
  }

  @Test func endOfInputExitsCleanly() throws {
    guard let minillm = Self.executable() else { return }
    let (path, reply) = try Self.parrot(maxPositions: 128, replyTokens: 2)
    let result = try run(
      minillm, ["chat", "--model", path, "--max-new-tokens", "2", "--greedy"], input: "hello")
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output == reply + "\n")
  }

  @Test func generateChatAnswersOneMessage() throws {
    guard let minillm = Self.executable() else { return }
    let (path, reply) = try Self.parrot(maxPositions: 128, replyTokens: 4)
    let result = try run(
      minillm,
      [
        "generate", "--model", path, "--prompt", "你好", "--chat", "--max-new-tokens", "4",
        "--greedy",
      ],
      input: "")
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output == reply + "\n")
  }

  @Test func missingTokenizerIsNamed() throws {
    guard let minillm = Self.executable() else { return }
    let (path, _) = try Self.parrot(maxPositions: 64, replyTokens: 1)
    try FileManager.default.removeItem(atPath: ModelDirectory(path: path).file("tokenizer.model"))
    let result = try run(minillm, ["chat", "--model", path], input: "hello\n")
    #expect(result.status != 0)
    #expect(result.error.contains("tokenizer.model"), "\(result.error)")
  }
}
