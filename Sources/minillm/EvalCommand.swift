import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor
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

  @OptionGroup var adapter: AdapterFlag

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
    let llama = try adapter.apply(to: try loadModel(model))
    let dataset: TokenDataset
    do {
      dataset = try TokenDataset(directory: data)
    } catch {
      throw CommandLineError("--data: \(error)")
    }
    let vocabulary = dataset.index.tokenizer.vocabularySize
    guard vocabulary <= llama.config.vocabSize else {
      throw CommandLineError(
        "--data: vocabulary \(vocabulary) is larger than the model's \(llama.config.vocabSize)")
    }
    let modelTokenizer = (model as NSString).appendingPathComponent("tokenizer.model")
    if let tokenizer = try? SentencePieceTokenizer(contentsOf: modelTokenizer),
      tokenizer.sha256 != dataset.index.tokenizer.sha256
    {
      printError("warning: \(data) was tokenised with another tokenizer than \(modelTokenizer)")
    }
    let length = seqLen ?? min(llama.config.maxPositions, 1024)
    guard length <= llama.config.maxPositions else {
      throw CommandLineError(
        "--seq-len: \(length) exceeds the model's max_position_embeddings \(llama.config.maxPositions)"
      )
    }
    let windows = TokenWindows(dataset: dataset, sequenceLength: length)
    let count = min(windows.count, maxWindows ?? .max)
    guard count > 0 else {
      throw CommandLineError("--data: \(dataset.count) tokens hold no window of \(length) + 1")
    }
    let objective = CausalLanguageModelObjective(model: llama)
    let isTerminal = isatty(STDERR_FILENO) != 0
    let start = DispatchTime.now().uptimeNanoseconds
    var lastShown = 0.0
    let (loss, tokens) = try objective.meanLoss(over: windows, count: count, batchSize: batchSize) {
      done, loss, tokens in
      let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9
      guard seconds - lastShown >= (isTerminal ? 0.25 : 10) || done == count else { return }
      lastShown = seconds
      let remaining = seconds / Double(done) * Double(count - done)
      let text = String(
        format: "[eval] %d/%d windows  loss %.4f  %.0f tok/s  ETA %@", done, count, loss,
        Double(tokens) / max(seconds, 1e-9), formattedDuration(remaining))
      if isTerminal {
        FileHandle.standardError.write(
          Data(("\r\u{1B}[K" + text + (done == count ? "\n" : "")).utf8))
      } else {
        printError(text)
      }
    }
    print(String(format: "loss %.6f", loss))
    print(String(format: "perplexity %.4f", exp(loss)))
    print("tokens \(tokens)")
    let json: [String: Any] = [
      "loss": loss, "perplexity": exp(loss), "tokens": tokens, "windows": count,
      "seq_len": length,
    ]
    let data = try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
  }
}
