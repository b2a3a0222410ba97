import Foundation
import MiniLlama
import MiniTokenize

/// One sampled completion as a reward function sees it.
public struct ScoredCompletion: Sendable {
  /// The conversation asked (ending with the user's turn).
  public var prompt: Conversation
  /// The record's reference answer, when it has one.
  public var answer: String?
  /// The prompt's ids (ending with the assistant's prefix).
  public var promptIDs: [Int32]
  /// The completion's ids (its end-of-turn token included when it stopped).
  public var completionIDs: [Int32]
  /// The completion's text (without the end-of-turn token).
  public var text: String

  /// A completion from its parts.
  public init(
    prompt: Conversation, answer: String?, promptIDs: [Int32], completionIDs: [Int32],
    text: String
  ) {
    self.prompt = prompt
    self.answer = answer
    self.promptIDs = promptIDs
    self.completionIDs = completionIDs
    self.text = text
  }
}

/// Scores sampled completions for reinforcement learning (GRPO): plug in your own, or use
/// ``FormatReward``, ``ExactAnswerReward`` or ``ModelReward``.
///
/// ```swift
/// struct LengthPenalty: RewardFunction {
///   func rewards(_ completions: [ScoredCompletion]) throws -> [Double] {
///     completions.map { -Double($0.completionIDs.count) / 100 }
///   }
/// }
/// ```
public protocol RewardFunction {
  /// One reward per completion, in order (called with every completion of a step at once, so
  /// a model can score them in batches).
  func rewards(_ completions: [ScoredCompletion]) throws -> [Double]
}

/// 1 when the whole completion matches a regular expression, else 0 (a format reward).
public struct FormatReward: RewardFunction, @unchecked Sendable {
  /// The pattern as given.
  public let pattern: String
  private let regex: Regex<AnyRegexOutput>

  /// A reward for `pattern`.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming `--reward` for a bad pattern.
  public init(pattern: String) throws {
    self.pattern = pattern
    regex = try setting("--reward", prefix: "regex:\(pattern): ") { try Regex(pattern) }
  }

  public func rewards(_ completions: [ScoredCompletion]) throws -> [Double] {
    completions.map { (try? regex.wholeMatch(in: $0.text)) != nil ? 1 : 0 }
  }
}

/// 1 when the answer extracted from the completion equals the record's `answer` (both with
/// surrounding white space trimmed), else 0. Without a pattern the answer is the whole
/// completion; with one, the first capture group of its last match (the whole match when it
/// has no group).
public struct ExactAnswerReward: RewardFunction, @unchecked Sendable {
  private let regex: Regex<AnyRegexOutput>?

  /// A reward extracting answers with `pattern` (`nil`: the whole completion).
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming `--reward` for a bad pattern.
  public init(pattern: String? = nil) throws {
    regex = try pattern.map { pattern in
      try setting("--reward", prefix: "exact:\(pattern): ") { try Regex(pattern) }
    }
  }

  /// The answer extracted from `text`, or `nil` when the pattern does not match.
  public func extract(_ text: String) -> String? {
    guard let regex else { return text.trimmingCharacters(in: .whitespacesAndNewlines) }
    guard let match = text.matches(of: regex).last else { return nil }
    let part = match.output.count > 1 ? match.output[1].substring : match.output[0].substring
    return part.map { String($0).trimmingCharacters(in: .whitespacesAndNewlines) }
  }

  public func rewards(_ completions: [ScoredCompletion]) throws -> [Double] {
    completions.map { completion in
      guard let answer = completion.answer, let found = extract(completion.text) else {
        return 0
      }
      return found == answer.trimmingCharacters(in: .whitespacesAndNewlines) ? 1 : 0
    }
  }
}

/// The score of a reward model (`minillm reward`'s output) for each completion, the
/// conversation rendered as the model was trained: the prompt's ids, then the reply's text
/// re-encoded with the assistant's suffix and end-of-turn token, scored in batches.
public struct ModelReward: RewardFunction {
  /// The reward model.
  public let model: RewardModel
  /// Renders replies as the reward model read them.
  public let renderer: ChatRenderer
  /// Sequences per forward.
  public let batchSize: Int

  /// A reward from `model`.
  public init(model: RewardModel, renderer: ChatRenderer, batchSize: Int = 8) {
    self.model = model
    self.renderer = renderer
    self.batchSize = batchSize
  }

  public func rewards(_ completions: [ScoredCompletion]) throws -> [Double] {
    let context = model.config.maxPositions
    let sequences = try completions.map { completion in
      Array((completion.promptIDs + (try renderer.renderReply(completion.text))).suffix(context))
    }
    return model.rewards(of: sequences, batchSize: batchSize).map(Double.init)
  }
}

extension RewardFunction {
  /// The rewards of `completions` of `promptIDs` (one each), each decoded without a trailing
  /// stop token for the reward function.
  func score(
    _ completions: [[Int32]], of promptIDs: [[Int32]], records: [PromptRecord],
    stopTokens: Set<Int32>, tokenizer: any Tokenizer
  ) throws -> [Double] {
    let scored = try zip(records, zip(promptIDs, completions)).map { record, pair in
      var reply = pair.1
      if let last = reply.last, stopTokens.contains(last) { reply.removeLast() }
      return ScoredCompletion(
        prompt: record.conversation, answer: record.answer, promptIDs: pair.0,
        completionIDs: pair.1, text: try tokenizer.decode(reply.map(Int.init)))
    }
    let rewards = try rewards(scored)
    precondition(rewards.count == scored.count, "RewardFunction: one reward per completion")
    return rewards
  }
}
