import ArgumentParser
import Foundation
import MiniDemo

struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Run the whole pipeline on the Chinese texts of fortunes-zh and manpages-zh.",
    subcommands: [DemoRun.self, DemoCorpus.self, DemoSFTData.self],
    defaultSubcommand: DemoRun.self
  )
}

struct DemoRun: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run",
    abstract: "Corpus → tokenizer → pretraining → SFT → DPO → comparison → report → export.",
    discussion: """
      Each stage is a minillm command run as a child process of this executable, printed \
      before it runs, so it can be repeated by hand: demo corpus, tokenizer train, data \
      pretrain, demo sft-data, bench train (a throughput probe that sizes the training \
      stages to the budget), pretrain (nano preset), data sft, sft, data dpo \
      --generate-rejected, dpo, eval and generate for the before/after table, report, export \
      gguf. OUT/stages/ keeps one record per finished stage: running the demo again reuses \
      them (an interrupted training stage resumes from its last checkpoint) unless --fresh \
      is given. OUT/report.html shows the curves of every stage, the table, the timings and \
      the configurations; OUT/model is the final chat model and OUT/minillm-demo.gguf its \
      GGUF. Stages whose command is not in this build (sft, dpo) are skipped.
      """)

  @Option(help: "Time budget in minutes; the training stages are sized to fit it.")
  var minutes: Double = 15

  @Option(help: "Output folder.")
  var out: String = "demo-run"

  @Option(help: "The assistant's name in the self-cognition set.")
  var name: String = "MiniLLM"

  @Option(help: "The assistant's author in the self-cognition set.")
  var author: String = "MiniLLM 项目"

  @Option(help: "Seed of the data, the initial weights and the data order.")
  var seed: UInt64 = 0

  @Option(help: "Tokenizer vocabulary size.")
  var vocabSize = 6400

  @Flag(help: "Delete what an earlier demo wrote in OUT and run every stage again.")
  var fresh = false

  func validate() throws {
    guard minutes >= 2 else { throw ValidationError("--minutes: must be ≥ 2, got \(minutes)") }
    guard vocabSize >= 512 else {
      throw ValidationError("--vocab-size: must be ≥ 512, got \(vocabSize)")
    }
    guard !name.isEmpty, !author.isEmpty else {
      throw ValidationError("--name and --author must not be empty")
    }
  }

  func run() throws {
    let settings = DemoSettings(
      minutes: minutes, out: out, name: name, author: author, fresh: fresh, seed: seed,
      vocabularySize: vocabSize)
    try runDemo(settings) { path, needle in
      var command: any ParsableCommand.Type = MiniLLMCommand.self
      for name in path {
        guard
          let next = command.configuration.subcommands.first(where: { $0._commandName == name })
        else { return false }
        command = next
      }
      return needle.map { command.helpMessage(columns: 1000).contains($0) } ?? true
    }
  }
}
