import ArgumentParser
import Foundation
import MiniDemo

struct DemoCorpus: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "corpus",
    abstract: "Extract the demo's pretraining corpus from fortunes-zh and manpages-zh.",
    discussion: """
      Reads the Tang poems (tang300), Song ci (song100) and sayings (chinese) installed by \
      fortunes-zh (colour codes stripped) and the zh_CN man pages of manpages-zh (gzip, roff \
      turned into prose). Writes OUTPUT/train.jsonl and OUTPUT/heldout.jsonl, one {"text"} \
      line per poem, saying or page; a document is held out when a hash of its text says so, \
      so the split is the same everywhere. OUTPUT/summary.json has the counts.
      """)

  @Option(help: "Output folder.")
  var output: String

  @Option(help: "Percent of the documents held out.")
  var heldOutPercent = 5

  func validate() throws {
    guard (0...50).contains(heldOutPercent) else {
      throw ValidationError("--held-out-percent: must be in 0...50, got \(heldOutPercent)")
    }
  }

  func run() throws {
    try DemoDataFiles.writeCorpus(output: output, heldOutPercent: heldOutPercent)
  }
}

struct DemoSFTData: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sft-data",
    abstract: "Build the demo's instruction data: self-cognition, poem and man-page questions.",
    discussion: """
      Writes Alpaca JSON lines (instruction, input, output) for `minillm data sft`: \
      OUTPUT/train.jsonl (the self-cognition set with {{name}}/{{author}} placeholders, \
      repeated; who wrote a poem; the next half-line or line of a verse; recite a short poem; \
      what a command does, from its man page's NAME line), OUTPUT/heldout.jsonl (questions \
      held out by a hash of their text), OUTPUT/dpo_prompts.jsonl (a sample of the training \
      questions with their reference answers, for preference pairs) and \
      OUTPUT/eval_prompts.json (the prompts of the before/after table). The same seed gives \
      the same files.
      """)

  @Option(help: "Output folder.")
  var output: String

  @Option(help: "Seed of the phrasings, the questions asked and the order.")
  var seed: UInt64 = 0

  @Option(help: "Percent of the questions held out.")
  var heldOutPercent = 5

  @Option(help: "Copies of each self-cognition record in the training file.")
  var selfCognitionRepeats = 3

  @Option(help: "Continuation questions per poem, at most.")
  var continuationsPerPoem = 2

  @Option(help: "Questions in dpo_prompts.jsonl.")
  var dpoPrompts = 300

  func validate() throws {
    guard (0...50).contains(heldOutPercent) else {
      throw ValidationError("--held-out-percent: must be in 0...50, got \(heldOutPercent)")
    }
    guard selfCognitionRepeats >= 1, continuationsPerPoem >= 0, dpoPrompts >= 0 else {
      throw ValidationError(
        "--self-cognition-repeats must be ≥ 1, --continuations-per-poem and --dpo-prompts ≥ 0")
    }
  }

  func run() throws {
    var options = SFTDataBuilder.Options()
    options.seed = seed
    options.heldOutPercent = heldOutPercent
    options.selfCognitionRepeats = selfCognitionRepeats
    options.continuationsPerPoem = continuationsPerPoem
    try DemoDataFiles.writeSFTData(output: output, options: options, dpoPrompts: dpoPrompts)
  }
}
