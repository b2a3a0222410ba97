import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize

struct ChatCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "chat",
    abstract: "Chat with a model in the terminal.",
    discussion: """
      Reads one message per line from standard input (a terminal or a pipe) and streams each \
      reply to standard output. Commands: /reset forgets the conversation, /history prints \
      what the next prompt will include, /exit (or end of input) quits.

      The model directory needs tokenizer.model and, unless --template is given, the \
      chat_template of tokenizer_config.json (both written by `minillm sft`). Sampling \
      defaults come from its generation_config.json.
      """)

  @Option(help: "Model directory (config.json, model.safetensors, tokenizer.model, …).")
  var model: String

  @Option(
    help: "Keep at most N previous exchanges in the prompt (0: none; default: all that fit).")
  var history: Int?

  @OptionGroup var adapter: AdapterFlag

  @Option(help: "System prompt, kept at the head of every prompt.")
  var system: String?

  @Option(
    help:
      "Chat template: chatml, human-robot or a JSON spec file (default: tokenizer_config.json's).")
  var template: String?

  @Option(
    name: .customLong("max-new-tokens"),
    help:
      "Most tokens per reply (default: generation_config.json's max_new_tokens, else 256, capped at half the context; for a GGUF file, half its context, replies running to the end of the turn as llama.cpp's do)."
  )
  var maxNewTokens: Int?

  @OptionGroup var sampling: SamplingFlags

  @Flag(help: "After each reply, print its token counts and speed to standard error.")
  var stats = false

  @OptionGroup var threads: ThreadOptions

  func validate() throws {
    if let history, history < 0 { throw ValidationError("--history: must be ≥ 0") }
  }

  func run() throws {
    try threads.apply()
    let session = try loadChatSession(
      model: model, template: template, adapter: adapter.adapter)
    try session.apply(maxNewTokens: maxNewTokens, sampling: sampling)
    session.options.historyLimit = history
    // Without --system, the file's default stays (a GGUF template's own, such as Qwen2's).
    if let system { session.options.systemPrompt = system }
    let interactive = isatty(STDIN_FILENO) != 0
    if interactive {
      printError(
        "chat with \(model) (template \(session.renderer.template.name), context "
          + "\(session.model.config.maxPositions) tokens); /reset, /history, /exit")
    }
    while true {
      if interactive { writeOutput("> ") }
      guard let line = readLine(strippingNewline: true) else {
        if interactive { writeOutput("\n") }
        return
      }
      let message = line.trimmingCharacters(in: .whitespaces)
      switch message {
      case "": continue
      case "/exit", "/quit": return
      case "/reset":
        session.reset()
        writeOutput("[history cleared]\n")
      case "/history":
        writeOutput(session.transcript)
      case _ where message.hasPrefix("/") && !message.contains(" "):
        printError("unknown command \(message) (commands: /reset, /history, /exit)")
      default:
        reply(to: line, in: session)
      }
    }
  }

  /// Streams the reply to `message`; a message that cannot be answered is reported on
  /// standard error and the chat goes on.
  private func reply(to message: String, in session: ChatSession) {
    let start = DispatchTime.now().uptimeNanoseconds
    do {
      try session.respond(to: message) { writeOutput($0) }
      writeOutput("\n")
    } catch {
      printError("error: \(error)")
      return
    }
    guard let turn = session.lastTurn else { return }
    if turn.droppedByBudget > 0 {
      printError(
        "[dropped the \(turn.droppedByBudget) oldest exchange(s) to fit the prompt in "
          + "\(session.tokenBudget) tokens]")
    }
    if stats {
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
      let ending = turn.finishReason == .stopToken ? "end of turn" : "max new tokens"
      printError(
        "[prompt \(turn.prompt.count) tokens (\(turn.reusedTokens) cached), "
          + "\(turn.replyTokens.count) new, "
          + String(format: "%.1f", Double(turn.replyTokens.count) / max(seconds, 1e-9))
          + " tokens/s, stopped at \(ending)]")
    }
  }
}
