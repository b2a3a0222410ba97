import MiniTensor
import MiniTokenize

/// A multi-turn chat with a model: keeps the history, renders each prompt with the model's
/// chat template (the same `ChatRenderer` the SFT data went through), streams the reply and
/// stops at the end-of-turn token.
///
/// Each prompt is the system prompt, the latest exchanges and the new message. The history is
/// cut to `options.historyLimit` exchanges and then, oldest first, to what fits in
/// `tokenBudget` (the model's `maxPositions` less `options.maxNewTokens`); the system prompt
/// is never dropped. Dropped exchanges leave `history` for good.
///
/// The keys and values of the previous turn stay in a `KVCache`: a new prompt that starts with
/// the tokens already computed (the usual case: the previous prompt and reply, then the new
/// message) only runs the model on what follows.
///
/// ```swift
/// let chat = try ChatSession(directory: "run/model")
/// let reply = try chat.respond(to: "你是谁？") { print($0, terminator: "") }
/// ```
public final class ChatSession {
  /// The model.
  public let model: Llama
  /// The template bound to the tokenizer.
  public let renderer: ChatRenderer
  /// Generation stops after any of these (the template's end-of-turn token, the tokenizer's
  /// EOS and the model's EOS ids).
  public let stopTokenIDs: Set<Int32>
  /// The settings; a new `sampling` restarts the sampler from its seed.
  public var options: ChatOptions {
    didSet {
      precondition(
        options.maxNewTokens > 0 && options.maxNewTokens < model.config.maxPositions,
        "ChatSession: maxNewTokens \(options.maxNewTokens) ∉ 1..<\(model.config.maxPositions)")
      precondition(
        (options.historyLimit ?? 0) >= 0, "ChatSession: historyLimit \(options.historyLimit!)")
      if options.sampling != oldValue.sampling { sampler = Sampler(options.sampling) }
    }
  }
  /// The previous exchanges the next prompt will include (before the token budget).
  public private(set) var history: [ChatExchange] = []
  /// What happened in the last turn; `nil` before the first and after `reset()`.
  public private(set) var lastTurn: ChatTurn?

  /// The system prompt and the kept exchanges, one `role: text` line each (`(no history)`
  /// when there is no exchange yet): what the next prompt will include, before the budget.
  public var transcript: String {
    var text = options.systemPrompt.map { "system: \($0)\n" } ?? ""
    if history.isEmpty { text += "(no history)\n" }
    for exchange in history { text += "user: \(exchange.user)\nassistant: \(exchange.assistant)\n" }
    return text
  }

  private var sampler: Sampler
  private var cache: KVCache?
  /// The tokens whose keys and values `cache` holds.
  private var cachedTokens: [Int32] = []

  /// A session over a loaded model and renderer.
  /// - Parameter stopTokenIDs: more ids to stop at, besides `renderer.stopTokenIDs` and the
  ///   model's EOS ids (for example `generation_config.json`'s `eos_token_id`).
  /// - Throws: `ChatSessionError.vocabularyMismatch` when the tokenizer has more pieces than
  ///   the model has embeddings.
  public init(
    model: Llama, renderer: ChatRenderer, options: ChatOptions = ChatOptions(),
    stopTokenIDs extraStops: [Int] = []
  ) throws {
    guard renderer.tokenizer.vocabularySize <= model.config.vocabSize else {
      throw ChatSessionError.vocabularyMismatch(
        tokenizer: renderer.tokenizer.vocabularySize, model: model.config.vocabSize)
    }
    precondition(
      options.maxNewTokens > 0 && options.maxNewTokens < model.config.maxPositions,
      "ChatSession: maxNewTokens \(options.maxNewTokens) ∉ 1..<\(model.config.maxPositions)")
    precondition(
      (options.historyLimit ?? 0) >= 0, "ChatSession: historyLimit \(options.historyLimit!)")
    self.model = model
    self.renderer = renderer
    self.options = options
    let stops = renderer.stopTokenIDs + model.config.eosTokenIds + extraStops
    stopTokenIDs = Set(stops.filter { $0 >= 0 && $0 < model.config.vocabSize }.map(Int32.init))
    sampler = Sampler(options.sampling)
  }

  /// A session over a model directory: the model, its tokenizer (`tokenizer.model`, else
  /// `tokenizer.json`), the chat template of
  /// `tokenizer_config.json` (or `template`), and the stop ids of `generation_config.json`.
  /// - Parameter options: `nil` takes sampling and reply length from `generation_config.json`
  ///   (see `ChatOptions(generationConfig:maxPositions:)`).
  /// - Parameter adapter: a PEFT LoRA adapter folder applied to the model (see ``LoRAModel``).
  /// - Throws: `ModelDirectoryError` naming the missing or bad file; `ChatTemplateError` when
  ///   the template does not fit the tokenizer; `LoRAConfigurationError` for a bad adapter.
  public convenience init(
    directory path: String, template: ChatTemplate? = nil, options: ChatOptions? = nil,
    adapter: String? = nil
  ) throws {
    let modelDirectory = ModelDirectory(path: path)
    _ = try modelDirectory.loadConfig()  // first, so a wrong path is reported as such
    let directory = modelDirectory.chatFiles(adapter: adapter)
    let tokenizer = try directory.loadPretrainedTokenizer().tokenizer
    let chosen = try template ?? directory.loadChatTemplate()
    let generation = try directory.loadGenerationConfig()
    // Adapters need the Float base; without them a GGUF file's blocks stay quantized.
    let base = try adapter == nil ? Llama.forInference(directory: path) : Llama(directory: path)
    let model = try adapter.map { try LoRAModel(base: base, adapterDirectory: $0).model } ?? base
    var chatOptions =
      options ?? ChatOptions(generationConfig: generation, maxPositions: model.config.maxPositions)
    if options == nil, template == nil {
      // The template's own system prompt, used when the conversation has none (Qwen2's).
      chatOptions.systemPrompt = directory.chatTemplateDefaultSystemPrompt()
    }
    if options == nil, directory.isGGUFFile {
      // Replies run to the end of the turn, as llama.cpp's do, within half the context.
      chatOptions.maxNewTokens = max(1, model.config.maxPositions / 2)
    }
    try self.init(
      model: model, renderer: try ChatRenderer(template: chosen, tokenizer: tokenizer),
      options: chatOptions, stopTokenIDs: generation.eosTokenIDs)
  }

  /// How many tokens a prompt may take: the model's context less the reply's room.
  public var tokenBudget: Int { model.config.maxPositions - options.maxNewTokens }

  /// Forgets the history and the cached keys and values, and restarts the sampler from its
  /// seed: the session then answers as a new one would.
  public func reset() {
    history.removeAll()
    lastTurn = nil
    cachedTokens.removeAll()
    cache?.reset()
    sampler = Sampler(options.sampling)
  }

  /// Answers `message` and adds the exchange to the history.
  /// - Parameter onText: called with each new piece of the reply as it is generated; pieces
  ///   never split a UTF-8 character and concatenate to the returned text.
  /// - Returns: the reply's text (without the end-of-turn token).
  /// - Throws: `ChatSessionError.messageTooLong` when the system prompt and the message alone
  ///   exceed `tokenBudget` (the history is then unchanged); `TokenizerError` or
  ///   `ChatTemplateError` when rendering or decoding fails.
  @discardableResult
  public func respond(to message: String, onText: (String) -> Void = { _ in }) throws -> String {
    let (prompt, droppedByLimit, droppedByBudget) = try renderPrompt(for: message)
    let config = model.config
    let cache = self.cache ?? model.makeCache()
    self.cache = cache
    // Keep the cached positions the new prompt shares, but feed at least one token.
    var reused = 0
    if options.reusesCache {
      while reused < min(cachedTokens.count, prompt.count - 1)
        && cachedTokens[reused] == prompt[reused]
      {
        reused += 1
      }
    }
    cache.truncate(to: reused)
    cachedTokens.removeSubrange(reused...)

    var decoder = IncrementalTextDecoder(tokenizer: renderer.tokenizer)
    var context = prompt
    var reply: [Int32] = []
    var finish = ChatTurn.FinishReason.length
    var input = Array(prompt[reused...])
    let limit = min(options.maxNewTokens, config.maxPositions - prompt.count)
    while reply.count < limit {
      let logits = model(input, cache: cache).value.reshaped([-1, config.vocabSize])
      cachedTokens.append(contentsOf: input)
      let token = sampler.next(logits: logits[row: input.count - 1].scalars, history: context)
      reply.append(token)
      context.append(token)
      if stopTokenIDs.contains(token) {
        finish = .stopToken
        break
      }
      let text = try decoder.append(token)
      if !text.isEmpty { onText(text) }
      input = [token]
    }
    let rest = try decoder.finish()
    if !rest.isEmpty { onText(rest) }
    let text = decoder.text

    history.append(ChatExchange(user: message, assistant: text))
    let trimmed = trimHistory()
    lastTurn = ChatTurn(
      prompt: prompt, reusedTokens: reused, replyTokens: reply,
      droppedByLimit: droppedByLimit + trimmed, droppedByBudget: droppedByBudget,
      finishReason: finish)
    return text
  }

  /// The prompt for `message` after the history limit and the token budget, dropping the
  /// exchanges that no longer fit from `history`.
  /// - Returns: the prompt ids and how many exchanges the limit and the budget dropped.
  private func renderPrompt(for message: String) throws -> (
    ids: [Int32], droppedByLimit: Int, droppedByBudget: Int
  ) {
    var kept = history
    var droppedByLimit = 0
    if let limit = options.historyLimit, kept.count > limit {
      droppedByLimit = kept.count - limit
      kept.removeFirst(droppedByLimit)
    }
    var messages: [Message] = []
    for exchange in kept {
      messages.append(Message(role: .user, content: exchange.user))
      messages.append(Message(role: .assistant, content: exchange.assistant))
    }
    messages.append(Message(role: .user, content: message))
    let rendered = try renderer.prompt(
      for: Conversation(system: options.systemPrompt, messages: messages))
    guard let (fitted, droppedByBudget) = rendered.keepingLatestExchanges(fitting: tokenBudget)
    else {
      let lastExchange = rendered.ids.count - (rendered.exchangeStarts.last ?? rendered.headerCount)
      throw ChatSessionError.messageTooLong(
        tokens: rendered.headerCount + lastExchange, budget: tokenBudget)
    }
    kept.removeFirst(droppedByBudget)
    history = kept
    return (fitted.ids, droppedByLimit, droppedByBudget)
  }

  /// Cuts `history` to `options.historyLimit`; returns how many exchanges it dropped.
  private func trimHistory() -> Int {
    guard let limit = options.historyLimit, history.count > limit else { return 0 }
    let count = history.count - limit
    history.removeFirst(count)
    return count
  }
}
