import MiniLlama
import MiniTokenize

/// A model ready to serve: the weights, its chat template bound to its tokenizer, the ids that
/// end a reply, and the name clients address it by.
///
/// `@unchecked Sendable`: the `Llama` (a class holding the weights) is only run by the
/// ``GenerationEngine``'s one decoding thread; everything else here is immutable and `Sendable`.
public final class ServedModel: @unchecked Sendable {
  /// The model's id in `/v1/models` and in requests' `model` field.
  public let name: String
  /// The weights.
  let model: Llama
  /// The chat template bound to the tokenizer.
  public let renderer: ChatRenderer
  /// Generation stops after any of these (end of turn, EOS); they are not part of the text.
  public let stopTokenIDs: Set<Int32>
  /// The model's context (`max_position_embeddings`).
  public let maxPositions: Int
  /// The vocabulary size of the model.
  public let vocabularySize: Int
  /// The system prompt the model's chat template inserts when a conversation has none (Qwen2's
  /// "You are a helpful assistant."), rendered into requests without a system message as the
  /// template itself renders them.
  public let defaultSystemPrompt: String?

  /// A model already in memory.
  /// - Parameter stopTokenIDs: more ids to stop at besides the template's end of turn, the
  ///   tokenizer's EOS and the model's EOS ids (e.g. `generation_config.json`'s).
  /// - Throws: `ChatSessionError.vocabularyMismatch` when the tokenizer has more pieces than
  ///   the model has embeddings.
  public init(
    model: Llama, renderer: ChatRenderer, name: String, stopTokenIDs: [Int] = [],
    defaultSystemPrompt: String? = nil
  ) throws {
    guard renderer.tokenizer.vocabularySize <= model.config.vocabSize else {
      throw ChatSessionError.vocabularyMismatch(
        tokenizer: renderer.tokenizer.vocabularySize, model: model.config.vocabSize)
    }
    self.name = name
    self.model = model
    self.renderer = renderer
    let stops = renderer.stopTokenIDs + model.config.eosTokenIds + stopTokenIDs
    self.stopTokenIDs = Set(
      stops.filter { $0 >= 0 && $0 < model.config.vocabSize }.map(Int32.init))
    maxPositions = model.config.maxPositions
    vocabularySize = model.config.vocabSize
    self.defaultSystemPrompt = defaultSystemPrompt
  }

  /// A model directory: the weights, `tokenizer.model`, the chat template of
  /// `tokenizer_config.json` (or `template`) and the stop ids of `generation_config.json`.
  /// - Parameters:
  ///   - name: the id clients use (default: the directory's last path component).
  ///   - adapter: a PEFT LoRA adapter folder merged into the weights (``LoRAModel/merged()``),
  ///     so decoding costs what the base's does; its chat files, when it has them, replace the
  ///     directory's (``ModelDirectory/chatFiles(adapter:)``).
  /// - Throws: `ModelDirectoryError` naming the missing or bad file; `ChatTemplateError` when
  ///   the template does not fit the tokenizer; `LoRAConfigurationError` for a bad adapter.
  public convenience init(
    directory path: String, template: ChatTemplate? = nil, name: String? = nil,
    adapter: String? = nil
  )
    throws
  {
    let modelDirectory = ModelDirectory(path: path)
    _ = try modelDirectory.loadConfig()  // first, so a wrong path is reported as such
    let directory = modelDirectory.chatFiles(adapter: adapter)
    let tokenizer = try directory.loadPretrainedTokenizer().tokenizer
    let chosen = try template ?? directory.loadChatTemplate()
    let generation = try directory.loadGenerationConfig()
    // Adapters are merged into the Float base; without them a GGUF file's blocks stay quantized.
    let model =
      try adapter.map { try LoRAModel(base: Llama(directory: path), adapterDirectory: $0).merged() }
      ?? Llama.forInference(directory: path)
    let trimmed = path.hasSuffix("/") ? String(path.dropLast()) : path
    let base = trimmed.split(separator: "/").last.map(String.init) ?? "model"
    // The template's own system prompt, for requests that bring none (as llama.cpp's server and
    // `transformers` render the template).
    let system = template == nil ? directory.chatTemplateDefaultSystemPrompt() : nil
    try self.init(
      model: model, renderer: try ChatRenderer(template: chosen, tokenizer: tokenizer),
      name: name ?? base, stopTokenIDs: generation.eosTokenIDs, defaultSystemPrompt: system)
  }
}
