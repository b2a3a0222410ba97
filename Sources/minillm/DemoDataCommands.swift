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
    let texts: DemoTexts
    do {
      texts = try DemoTexts.load()
    } catch {
      throw CommandLineError("\(error)")
    }
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    let train = (output as NSString).appendingPathComponent("train.jsonl")
    let heldOut = (output as NSString).appendingPathComponent("heldout.jsonl")
    let summary = try PretrainCorpus.write(
      PretrainCorpus.documents(from: texts), trainPath: train, heldOutPath: heldOut,
      heldOutPercent: heldOutPercent)
    let figures: [String: Any] = [
      "poems": texts.poems.count, "sayings": texts.sayings.count,
      "man_pages": texts.manPages.count, "train_documents": summary.trainDocuments,
      "heldout_documents": summary.heldOutDocuments, "characters": summary.characters,
      "cjk_characters": texts.cjkCharacterCount, "skipped": texts.skipped,
      "train_documents_per_source": summary.documentsPerSource,
    ]
    let json = try JSONSerialization.data(
      withJSONObject: figures, options: [.sortedKeys, .withoutEscapingSlashes])
    try json.write(
      to: URL(fileURLWithPath: (output as NSString).appendingPathComponent("summary.json")),
      options: .atomic)
    for (reason, count) in texts.skipped.sorted(by: { $0.key < $1.key }) {
      printError("skipped \(count): \(reason)")
    }
    print(
      "\(texts.poems.count) poems, \(texts.sayings.count) sayings, \(texts.manPages.count) man pages: "
        + "\(summary.trainDocuments) training and \(summary.heldOutDocuments) held-out documents, "
        + "\(summary.characters) characters (\(texts.cjkCharacterCount) CJK)")
    print("wrote \(train) and \(heldOut)")
    print(String(decoding: json, as: UTF8.self))
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
    let texts: DemoTexts
    do {
      texts = try DemoTexts.load()
    } catch {
      throw CommandLineError("\(error)")
    }
    var options = SFTDataBuilder.Options()
    options.seed = seed
    options.heldOutPercent = heldOutPercent
    options.selfCognitionRepeats = selfCognitionRepeats
    options.continuationsPerPoem = continuationsPerPoem
    let result = SFTDataBuilder(options: options).build(
      poems: texts.poems, manPages: texts.manPages)
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    func path(_ name: String) -> String { (output as NSString).appendingPathComponent(name) }
    try SFTDataBuilder.writeAlpaca(result.train, to: path("train.jsonl"))
    try SFTDataBuilder.writeAlpaca(result.heldOut, to: path("heldout.jsonl"))
    let dpo = SFTDataBuilder.sample(result.train, count: dpoPrompts, seed: seed &+ 1)
    try SFTDataBuilder.writeAlpaca(dpo, to: path("dpo_prompts.jsonl"))
    let prompts = result.evaluation.map {
      [
        "kind": $0.kind.rawValue, "prompt": $0.prompt, "reference": $0.reference,
        "trained": $0.trained ? "yes" : "no",
      ]
    }
    try JSONSerialization.data(
      withJSONObject: prompts, options: [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
    ).write(to: URL(fileURLWithPath: path("eval_prompts.json")), options: .atomic)
    for kind in InstructionRecord.Kind.allCases {
      let train = result.train.filter { $0.kind == kind }.count
      let heldOut = result.heldOut.filter { $0.kind == kind }.count
      print("\(kind.rawValue): \(train) training, \(heldOut) held out")
    }
    print(
      "wrote \(result.train.count) training, \(result.heldOut.count) held-out, \(dpo.count) preference prompts and \(result.evaluation.count) evaluation prompts to \(output)"
    )
  }
}
