import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain

struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Mean next-token loss and perplexity of a model on token shards.",
    discussion: """
      The shards are cut into windows of --seq-len + 1 tokens (consecutive windows share one
      token, so every token after the first is predicted once). Prints loss, perplexity and
      tokens, then one JSON line.
      """)

  @Option(help: "Model directory.")
  var model: String

  @Option(help: "Token shard folder made by `minillm data pretrain`.")
  var data: String

  @Option(help: "Tokens per window (default: the model's max_position_embeddings, at most 1024).")
  var seqLen: Int?

  @Option(help: "Windows per forward pass.")
  var batchSize = 8

  @Option(help: "Evaluate at most this many windows (default: all).")
  var maxWindows: Int?

  @OptionGroup var threads: ThreadOptions

  func validate() throws {
    if let seqLen, seqLen <= 0 { throw ValidationError("--seq-len: must be > 0") }
    guard batchSize > 0 else { throw ValidationError("--batch-size: must be > 0") }
    if let maxWindows, maxWindows <= 0 { throw ValidationError("--max-windows: must be > 0") }
  }

  func run() throws {
    try threads.apply()
    let llama = try flagged("--model") { try Llama(directory: model) }
    let windows = try TokenWindows.evaluation(
      of: data, for: llama.config, modelPath: model, sequenceLength: seqLen, limit: maxWindows,
      warn: printError)
    let (count, length) = (windows.count, windows.sequenceLength)
    let objective = CausalLanguageModelObjective(model: llama)
    let status = StatusLine(terminalInterval: 0.25)
    let (loss, tokens) = try objective.meanLoss(over: windows, count: count, batchSize: batchSize) {
      done, loss, tokens in
      let seconds = status.elapsed
      guard status.isDue(at: seconds, always: done == count) else { return }
      let remaining = seconds / Double(done) * Double(count - done)
      status.show(
        String(
          format: "[eval] %d/%d windows  loss %.4f  %.0f tok/s  ETA %@", done, count, loss,
          Double(tokens) / max(seconds, 1e-9), formattedDuration(remaining)))
      if done == count { status.finish() }
    }
    print(String(format: "loss %.6f", loss))
    print(String(format: "perplexity %.4f", exp(loss)))
    print("tokens \(tokens)")
    try printJSON([
      "loss": loss, "perplexity": exp(loss), "tokens": tokens, "windows": count,
      "seq_len": length,
    ])
  }
}
