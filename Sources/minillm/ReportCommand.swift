import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain

struct ReportCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Write RUN/report.html: loss and learning-rate curves, settings, final figures.",
    discussion: """
      The page is self-contained (inline SVG, no JavaScript). When RUN/model holds a model and
      its tokenizer, it also shows a few sampled continuations of --prompt texts. The results
      files that `minillm eval --task` kept in RUN/eval are shown as a Benchmarks table (a file
      that cannot be read is named as unreadable).
      """)

  @Option(name: .customLong("run"), help: "Run folder made by `minillm pretrain`.")
  var runPath: String

  @Option(help: "Where to write the page (default RUN/report.html).")
  var output: String?

  @Option(help: "Prompts for sample generations (repeatable).")
  var prompt: [String] = ["床前明月光，", "春风", "人工智能是"]

  @Option(help: "Tokens generated per sample (0: no samples).")
  var maxNewTokens = 48

  @OptionGroup var threads: ThreadOptions

  func run() throws {
    try threads.apply()
    let directory = RunDirectory(path: runPath)
    var report = try flagged("--run") { try RunReport(run: directory) }
    if maxNewTokens > 0, !prompt.isEmpty,
      let llama = try? Llama(directory: directory.modelPath),
      let tokenizer = try? SentencePieceTokenizer(contentsOf: directory.modelPath)
    {
      for text in prompt {
        let ids = try tokenizer.encodePrompt(text)
        guard !ids.isEmpty, ids.count < llama.config.maxPositions else { continue }
        let options = GenerationOptions(
          maxNewTokens: min(maxNewTokens, llama.config.maxPositions - ids.count),
          sampling: SamplingOptions(temperature: 0.8, topK: 40, seed: 0),
          stopTokens: Set(llama.config.eosTokenIds.map { Int32($0) }))
        let generated = llama.generate(prompt: ids, options: options)
        let completion = try tokenizer.decode(generated.map(Int.init))
        report.samples.append((text, completion))
      }
    }
    let path = output ?? directory.reportPath
    try report.write(to: path)
    print(path)
  }
}
