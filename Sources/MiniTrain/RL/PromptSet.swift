import Foundation
import MiniTokenize

/// One prompt of a reinforcement-learning run: the conversation to answer and the reference
/// answer, when the record has one.
public struct PromptRecord: Sendable, Equatable {
  /// The conversation, ending with the user's turn.
  public var conversation: Conversation
  /// The reference answer (`"answer"`, an SFT record's reply to that turn, or a preference
  /// pair's chosen reply).
  public var answer: String?

  /// A record from its parts.
  public init(conversation: Conversation, answer: String?) {
    self.conversation = conversation
    self.answer = answer
  }
}

/// Reads the prompts of `minillm grpo --data`: JSON lines `{"prompt": …, "answer": …}` (answer
/// optional), or any SFT or preference file `minillm data` reads, whose last user turn (with
/// the turns before it) is the prompt.
public enum PromptSet {
  /// The records of `path`.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming `--data`, the file and the line of
  ///   the first bad record.
  public static func read(_ path: String) throws -> [PromptRecord] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw TrainingRunError.setting("--data", "\(path): cannot read")
    }
    let text = String(decoding: data, as: UTF8.self)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
    if let first = lines.first(where: { !$0.trimmingCharacters(in: .whitespaces).isEmpty }),
      let object = try? JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any],
      object["prompt"] != nil, object["chosen"] == nil
    {
      return try readPromptLines(lines, path: path)
    }
    return try readCorpus(path)
  }

  static func readPromptLines(_ lines: [Substring], path: String) throws -> [PromptRecord] {
    var records: [PromptRecord] = []
    for (n, line) in lines.enumerated() {
      func bad(_ message: String) -> TrainingRunError {
        .setting("--data", "\(path):\(n + 1): \(message)")
      }
      if line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
      guard
        let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
      else { throw bad("not a JSON object") }
      guard let prompt = object["prompt"] as? String, !prompt.isEmpty else {
        throw bad("'prompt' is missing or not a non-empty string")
      }
      var answer: String?
      if let value = object["answer"], !(value is NSNull) {
        if let string = value as? String {
          answer = string
        } else if let number = value as? NSNumber {
          answer = number.stringValue
        } else {
          throw bad("'answer' is not a string or number")
        }
      }
      let system = object["system"] as? String
      records.append(
        PromptRecord(
          conversation: Conversation(
            system: system, messages: [Message(role: .user, content: prompt)]),
          answer: answer))
    }
    guard !records.isEmpty else { throw TrainingRunError.setting("--data", "\(path): no prompts") }
    return records
  }

  static func readCorpus(_ path: String) throws -> [PromptRecord] {
    let reader = try setting("--data") { try CorpusReader(path: path) }
    var records: [PromptRecord] = []
    while let record = try setting("--data", { try reader.next() }) {
      switch record {
      case .document:
        throw TrainingRunError.setting(
          "--data",
          "\(path) holds documents (\(reader.format.rawValue)); prompts come from "
            + "{\"prompt\": …} lines or SFT/preference records")
      case .conversation(let conversation):
        guard let last = conversation.messages.lastIndex(where: { $0.role == .user }) else {
          continue
        }
        let reply = conversation.messages.dropFirst(last + 1).first { $0.role == .assistant }
        records.append(
          PromptRecord(
            conversation: Conversation(
              system: conversation.system, messages: Array(conversation.messages[...last])),
            answer: reply?.content))
      case .preference(let pair):
        records.append(PromptRecord(conversation: pair.prompt, answer: pair.chosen))
      }
    }
    if let first = reader.statistics.firstRejections.first {
      throw TrainingRunError.setting(
        "--data",
        "\(path):\(first.line): \(first.reason.rawValue): \(first.detail) "
          + "(\(reader.statistics.rejectedCount) bad records)")
    }
    guard !records.isEmpty else { throw TrainingRunError.setting("--data", "\(path): no prompts") }
    return records
  }
}
