import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize

/// Parses `--ids 1,2,3` into token ids, checked against the vocabulary.
func parseIds(_ text: String, vocabSize: Int, flag: String = "--ids") throws -> [Int32] {
  let parts = text.split(separator: ",", omittingEmptySubsequences: false)
  var ids: [Int32] = []
  for part in parts {
    let trimmed = part.trimmingCharacters(in: .whitespaces)
    guard let id = Int32(trimmed) else {
      throw CommandLineError("\(flag): '\(trimmed)' is not an integer token id")
    }
    guard id >= 0 && Int(id) < vocabSize else {
      throw CommandLineError("\(flag): id \(id) is outside the vocabulary 0..<\(vocabSize)")
    }
    ids.append(id)
  }
  guard !ids.isEmpty else { throw CommandLineError("\(flag): no token ids") }
  return ids
}

/// Checks that `count` tokens fit the model's context (`max_position_embeddings`).
func checkContext(_ count: Int, of config: LlamaConfig, flag: String) throws {
  guard count <= config.maxPositions else {
    throw CommandLineError(
      "\(flag): \(count) tokens exceed the model's context of \(config.maxPositions) "
        + "(max_position_embeddings in config.json)")
  }
}

/// Loads `--model DIR` (or `F.gguf`, its quantized projections kept as blocks) to run it,
/// turning any error into one line naming the file.
func loadModel(_ path: String) throws -> Llama {
  try flagged("--model") { try Llama.forInference(directory: path) }
}

/// Options shared by the commands that run a model.
struct ThreadOptions: ParsableArguments {
  @Option(help: "Threads for OpenBLAS and the kernels (default: all cores).")
  var threads: Int?

  func apply() throws {
    if let threads {
      guard (1...maximumThreadCount).contains(threads) else {
        throw CommandLineError("--threads: must be in 1...\(maximumThreadCount), got \(threads)")
      }
      setThreadCount(threads)
    }
  }
}

struct ForwardCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "forward",
    abstract: "Run the model on token ids; print the logits of every position and the loss.")

  @Option(help: "Model directory (config.json + model.safetensors).")
  var model: String

  @OptionGroup var adapter: AdapterFlag

  @Option(help: "Comma-separated token ids, e.g. 1,2,3.")
  var ids: String

  @Flag(
    help: "Print JSON: {\"logits\": [[…] per position], \"loss\": mean next-token cross-entropy}.")
  var json = false

  @OptionGroup var threads: ThreadOptions

  func run() throws {
    try threads.apply()
    let llama = try adapter.model(model)
    let tokens = try parseIds(ids, vocabSize: llama.config.vocabSize)
    try checkContext(tokens.count, of: llama.config, flag: "--ids")
    let logits = llama(tokens).value.reshaped([tokens.count, llama.config.vocabSize])
    let loss: Float? = tokens.count > 1 ? llama.languageModelLoss(tokens).value.item : nil
    if json {
      var text = "{\"logits\": ["
      for t in 0..<tokens.count {
        if t > 0 { text += ", " }
        text += "[" + logits[row: t].scalars.map { jsonNumber($0) }.joined(separator: ", ") + "]"
      }
      text += "], \"loss\": " + (loss.map { jsonNumber($0) } ?? "null") + "}"
      print(text)
    } else {
      for t in 0..<tokens.count {
        let row = logits[row: t]
        print("position \(t) token \(tokens[t]): argmax \(row.argmax()) max logit \(row.max())")
      }
      if let loss { print("loss \(loss)") }
    }
  }
}

/// A float as a JSON number (`null` for non-finite values), with enough digits to round-trip.
func jsonNumber(_ value: Float) -> String {
  value.isFinite ? "\(value)" : "null"
}

struct GenerateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "generate",
    abstract: "Continue a prompt with the model (KV-cached decoding).")

  @Option(help: "Model directory.")
  var model: String

  @Option(help: "Prompt as comma-separated token ids.")
  var ids: String?

  @OptionGroup var adapter: AdapterFlag

  @Option(
    help:
      "Prompt text, encoded with the model directory's tokenizer.model (a GGUF file's own vocabulary)."
  )
  var prompt: String?

  @Option(
    name: .customLong("max-new-tokens"),
    help:
      "Most tokens to generate (default: generation_config.json's max_new_tokens, else 64; with --chat, else 256, capped at half the context, or half a GGUF file's context)."
  )
  var maxNewTokens: Int?

  @Flag(
    help:
      "Answer --prompt as one chat message, through the model directory's chat template; the reply stops at the end-of-turn token."
  )
  var chat = false

  @OptionGroup var sampling: SamplingFlags

  @Option(
    name: .customLong("stop-ids"),
    help:
      "Comma-separated ids that end generation (default: the EOS ids of config.json and generation_config.json)."
  )
  var stopIds: String?

  @Option(help: "Output: text (needs the tokenizer), ids (a JSON array), json (ids and timing).")
  var format: OutputFormat?

  @OptionGroup var threads: ThreadOptions

  enum OutputFormat: String, ExpressibleByArgument {
    case ids, json, text
  }

  func validate() throws {
    if let maxNewTokens, maxNewTokens < 0 {
      throw ValidationError("--max-new-tokens: must be ≥ 0")
    }
    guard (ids == nil) != (prompt == nil) else {
      throw ValidationError("give the prompt with exactly one of --ids and --prompt")
    }
    if chat {
      guard prompt != nil else { throw ValidationError("--chat: give the message with --prompt") }
      guard stopIds == nil else {
        throw ValidationError("--chat: the chat template decides where to stop; drop --stop-ids")
      }
    }
  }

  func run() throws {
    try threads.apply()
    if chat, let prompt { return try answer(prompt) }
    let llama = try adapter.model(model)
    let generation = try flagged("--model") {
      try ModelDirectory(path: model).loadGenerationConfig()
    }
    var tokenizer: (any Tokenizer)?
    var encodePrompt: ((String) throws -> [Int32])?
    if prompt != nil || format == .text {
      let directory = ModelDirectory(path: model)
      if directory.isGGUFFile
        || (!FileManager.default.fileExists(atPath: directory.file("tokenizer.model"))
          && FileManager.default.fileExists(atPath: directory.file("tokenizer.json")))
      {
        // The file's own vocabulary, BOS as llama.cpp adds it; a byte-level BPE
        // tokenizer.json with the BOS flag of tokenizer_config.json.
        let pretrained = try flagged("--model") { try directory.loadPretrainedTokenizer() }
        tokenizer = pretrained.tokenizer
        encodePrompt = pretrained.encodePrompt
      } else {
        let sentencePiece = try loadTokenizer(model)
        tokenizer = sentencePiece
        encodePrompt = sentencePiece.encodePrompt
      }
    }
    let promptIds =
      try prompt.flatMap { try encodePrompt?($0) }
      ?? parseIds(ids ?? "", vocabSize: llama.config.vocabSize)
    try checkContext(promptIds.count, of: llama.config, flag: ids != nil ? "--ids" : "--prompt")
    let stops =
      try stopIds.map {
        Set(try parseIds($0, vocabSize: llama.config.vocabSize, flag: "--stop-ids"))
      }
      ?? Set((llama.config.eosTokenIds + generation.eosTokenIDs).map { Int32($0) })
    let options = GenerationOptions(
      maxNewTokens: maxNewTokens ?? generation.maxNewTokens ?? 64,
      sampling: sampling.options(defaults: generation.sampling),
      stopTokens: stops)
    let start = DispatchTime.now().uptimeNanoseconds
    let tokens = llama.generate(prompt: promptIds, options: options)
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    let list = "[" + tokens.map(String.init).joined(separator: ", ") + "]"
    switch format ?? (prompt == nil ? .ids : .text) {
    case .ids: print(list)
    case .text:
      guard let tokenizer else { throw CommandLineError("--format text: no tokenizer") }
      print(try tokenizer.decode(tokens.map(Int.init)))
    case .json:
      print(
        "{\"ids\": \(list), \"prompt_tokens\": \(promptIds.count), \"seconds\": \(String(format: "%.4f", seconds))}"
      )
    }
  }
}

extension GenerateCommand {
  /// `--chat`: answers `message` through the model directory's chat template.
  func answer(_ message: String) throws {
    let session = try loadChatSession(model: model, template: nil, adapter: adapter.adapter)
    try session.apply(maxNewTokens: maxNewTokens, sampling: sampling)
    session.options.historyLimit = 0
    let start = DispatchTime.now().uptimeNanoseconds
    let streams = (format ?? .text) == .text
    let reply = try session.respond(to: message) { if streams { writeOutput($0) } }
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
    guard let turn = session.lastTurn else { return }
    let list = "[" + turn.replyTokens.map(String.init).joined(separator: ", ") + "]"
    switch format ?? .text {
    case .text: writeOutput("\n")
    case .ids: print(list)
    case .json:
      print(
        "{\"ids\": \(list), \"prompt_tokens\": \(turn.prompt.count), \"text\": \(jsonStringLiteral(reply)), \"seconds\": \(String(format: "%.4f", seconds))}"
      )
    }
  }
}
