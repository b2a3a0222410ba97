import MiniTokenize

/// How a `ChatSession` answers.
public struct ChatOptions: Sendable, Equatable {
  /// The system prompt, kept at the head of every prompt (never dropped).
  public var systemPrompt: String?
  /// Keep at most this many previous exchanges (like build_MiniLLM_from_scratch's `history_maxlen`); `0` answers
  /// each message on its own; `nil` keeps as many as the token budget allows.
  public var historyLimit: Int?
  /// At most this many tokens per reply; the prompt may use the rest of the model's
  /// `maxPositions`.
  public var maxNewTokens: Int
  /// How tokens are chosen.
  public var sampling: SamplingOptions
  /// Keep the keys and values of the previous turn and compute only the tokens after the
  /// longest common prefix with the new prompt. Off: every prompt is computed from scratch
  /// (the same tokens come out either way).
  public var reusesCache: Bool

  /// Options; by default build_MiniLLM_from_scratch's sampling, 256 new tokens and no history limit.
  public init(
    systemPrompt: String? = nil, historyLimit: Int? = nil, maxNewTokens: Int = 256,
    sampling: SamplingOptions = .seedDefaults, reusesCache: Bool = true
  ) {
    self.systemPrompt = systemPrompt
    self.historyLimit = historyLimit
    self.maxNewTokens = maxNewTokens
    self.sampling = sampling
    self.reusesCache = reusesCache
  }

  /// Options taking sampling and reply length from a model's `generation_config.json`.
  /// - Parameter maxPositions: the model's context. The reply length is the file's
  ///   `max_new_tokens` (else 256), at most half the context so the prompt keeps room.
  public init(generationConfig: GenerationConfig, maxPositions: Int) {
    self.init(
      maxNewTokens: min(generationConfig.maxNewTokens ?? 256, max(1, maxPositions / 2)),
      sampling: generationConfig.sampling)
  }
}

/// One exchange: the user's message and the assistant's reply.
public struct ChatExchange: Sendable, Equatable {
  /// What the user said.
  public var user: String
  /// What the assistant answered.
  public var assistant: String

  /// Creates an exchange.
  public init(user: String, assistant: String) {
    self.user = user
    self.assistant = assistant
  }
}

/// What happened during the last `ChatSession.respond(to:onText:)`.
public struct ChatTurn: Sendable, Equatable {
  /// Why the reply ended.
  public enum FinishReason: Sendable, Equatable {
    /// The model produced an end-of-turn or EOS token.
    case stopToken
    /// The reply reached `maxNewTokens`.
    case length
  }

  /// The prompt's ids (system prompt, kept history, the new message, assistant prefix).
  public var prompt: [Int32]
  /// Leading prompt tokens whose keys and values were kept from the previous turn.
  public var reusedTokens: Int
  /// The generated ids, including the stop token when there is one.
  public var replyTokens: [Int32]
  /// Previous exchanges dropped from the history during this turn by `historyLimit`.
  public var droppedByLimit: Int
  /// Previous exchanges dropped from the history during this turn to fit the token budget.
  public var droppedByBudget: Int
  /// Why the reply ended.
  public var finishReason: FinishReason
}

/// Why a `ChatSession` cannot answer.
public enum ChatSessionError: Error, Equatable, CustomStringConvertible {
  /// The system prompt and the new message alone exceed the token budget.
  case messageTooLong(tokens: Int, budget: Int)
  /// The tokenizer produces ids the model has no embedding for.
  case vocabularyMismatch(tokenizer: Int, model: Int)

  public var description: String {
    switch self {
    case .messageTooLong(let tokens, let budget):
      return
        "the message with the system prompt takes \(tokens) tokens, more than the \(budget) "
        + "the prompt may use (the model's context less the reply's max new tokens)"
    case .vocabularyMismatch(let tokenizer, let model):
      return
        "the tokenizer has \(tokenizer) pieces but the model only \(model) embeddings: "
        + "they do not belong together"
    }
  }
}
