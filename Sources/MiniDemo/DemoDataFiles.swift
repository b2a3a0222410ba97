import Foundation

/// The files of `minillm demo corpus` and `minillm demo sft-data`.
package enum DemoDataFiles {
  /// Writes OUTPUT/train.jsonl, OUTPUT/heldout.jsonl and OUTPUT/summary.json from the installed
  /// texts and prints what it wrote.
  package static func writeCorpus(output: String, heldOutPercent: Int) throws {
    let texts: DemoTexts
    do {
      texts = try DemoTexts.load()
    } catch {
      throw DemoError("\(error)")
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
      FileHandle.standardError.write(Data("skipped \(count): \(reason)\n".utf8))
    }
    print(
      "\(texts.poems.count) poems, \(texts.sayings.count) sayings, \(texts.manPages.count) man pages: "
        + "\(summary.trainDocuments) training and \(summary.heldOutDocuments) held-out documents, "
        + "\(summary.characters) characters (\(texts.cjkCharacterCount) CJK)")
    print("wrote \(train) and \(heldOut)")
    print(String(decoding: json, as: UTF8.self))
  }

  /// Writes the demo's instruction data (train, held-out, preference prompts, evaluation
  /// prompts) from the installed texts and prints the counts.
  package static func writeSFTData(
    output: String, options: SFTDataBuilder.Options, dpoPrompts: Int
  ) throws {
    let texts: DemoTexts
    do {
      texts = try DemoTexts.load()
    } catch {
      throw DemoError("\(error)")
    }
    let result = SFTDataBuilder(options: options).build(
      poems: texts.poems, manPages: texts.manPages)
    try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
    func path(_ name: String) -> String { (output as NSString).appendingPathComponent(name) }
    try SFTDataBuilder.writeAlpaca(result.train, to: path("train.jsonl"))
    try SFTDataBuilder.writeAlpaca(result.heldOut, to: path("heldout.jsonl"))
    let dpo = SFTDataBuilder.sample(result.train, count: dpoPrompts, seed: options.seed &+ 1)
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
    let exam = try DemoExam.write(result.exam, to: path("exam"))
    for kind in InstructionRecord.Kind.allCases {
      let train = result.train.filter { $0.kind == kind }.count
      let heldOut = result.heldOut.filter { $0.kind == kind }.count
      print("\(kind.rawValue): \(train) training, \(heldOut) held out")
    }
    print(
      "wrote \(result.train.count) training, \(result.heldOut.count) held-out, \(dpo.count) preference prompts and \(result.evaluation.count) evaluation prompts to \(output)"
    )
    let kinds = DemoExam.kinds.map { kind in
      "\(result.exam.filter { $0.kind == kind }.count) \(kind.rawValue)"
    }
    print(
      "exam: \(result.exam.count) held-out questions of \(DemoExam.choiceCount) choices (\(kinds.joined(separator: ", "))): \(exam)"
    )
  }
}
