import ArgumentParser

struct DemoCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Run the whole pipeline on the embedded Chinese corpus."
  )

  @Option(help: "Time budget in minutes.")
  var minutes: Double = 15

  @Option(help: "Output folder.")
  var out: String = "demo-run"

  @Option(help: "The assistant's name in the self-cognition set.")
  var name: String = "MiniLLM"

  @Option(help: "The assistant's author in the self-cognition set.")
  var author: String = "MiniLLM"

  func run() throws {
    let stages = [
      "corpus", "tokenizer", "token shards", "pretrain", "sft data", "sft", "dpo pairs", "dpo",
      "compare", "report",
    ]
    for (i, stage) in stages.enumerated() {
      print("[\(i + 1)/\(stages.count)] \(stage): not yet available in this version")
    }
  }
}
