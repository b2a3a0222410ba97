import Foundation
import MiniDemo
import MiniTokenize
import Testing

@Suite struct SFTDataBuilderTests {
  /// A few poems and pages standing in for the installed packages.
  static let poems = [
    Poem(
      collection: "tang300", title: "登鹳雀楼", author: "王之涣",
      lines: ["白日依山尽，黄河入海流。", "欲穷千里目，更上一层楼。"]),
    Poem(
      collection: "tang300", title: "夜思", author: "李白",
      lines: ["床前明月光，疑是地上霜。", "举头望明月，低头思故乡。"]),
    Poem(collection: "tang300", title: "送别", author: "王维", lines: ["下马饮君酒，问君何所之。"]),
    Poem(collection: "tang300", title: "送别", author: "王之涣", lines: ["杨柳东风树，青青夹御河。"]),
  ]
  static let pages = [
    ManPage(roff: ".SH NAME\nls \\- 列出目录内容", name: "ls", section: "1"),
    ManPage(roff: ".SH NAME\nputs \\- 向一个通道写", name: "puts", section: "3tcl"),
    ManPage(roff: ".SH NAME\nfoo \\- does things", name: "foo", section: "1"),
  ]

  @Test func selfCognitionSetAsksWhoTheAssistantIs() {
    let templates = SelfCognition.templates
    #expect((50...100).contains(templates.count))
    #expect(templates.contains { $0.question == "你是谁？" })
    #expect(templates.filter { $0.question.hasPrefix("你是谁") }.count >= 3)
    #expect(
      templates.allSatisfy { $0.answer.contains("{{name}}") || $0.answer.contains("{{author}}") })
    #expect(Set(templates.map(\.question)).count == templates.count)
  }

  @Test func buildsEveryKindWithHeldOutQuestionsApart() {
    var options = SFTDataBuilder.Options()
    options.heldOutPercent = 20
    let result = SFTDataBuilder(options: options).build(poems: Self.poems, manPages: Self.pages)
    let kinds = Set(result.train.map(\.kind))
    #expect(kinds == Set(InstructionRecord.Kind.allCases))
    #expect(!result.heldOut.isEmpty)
    #expect(
      Set(result.train.map(\.instruction)).isDisjoint(with: result.heldOut.map(\.instruction)))
    // Self-cognition records appear `selfCognitionRepeats` times in training.
    let who = result.train.filter { $0.instruction == "你是谁？" }
    #expect(who.count == options.selfCognitionRepeats)
    #expect(who.first?.output.contains("{{name}}") == true)
    // Author questions skip the ambiguous title 《送别》 (two poets).
    let authors = (result.train + result.heldOut).filter { $0.kind == .poemAuthor }
    let titles = Set(authors.compactMap { $0.instruction.firstMatch(of: /《(.+)》/)?.1 })
    #expect(titles == ["登鹳雀楼", "夜思"])
    #expect(!authors.contains { $0.instruction.contains("送别") })
    // Pages without a Chinese description are not asked about.
    let commands = (result.train + result.heldOut).filter { $0.kind == .manPage }
    #expect(Set(commands.map(\.output)) == ["ls 命令：列出目录内容。", "puts：向一个通道写。"])
  }

  @Test func evaluationPromptsAreFixedAndTrainedOn() {
    let result = SFTDataBuilder().build(poems: Self.poems, manPages: Self.pages)
    #expect(
      result.evaluation.filter(\.trained).map(\.prompt) == [
        "你是谁？", "“白日依山尽，”的下一句是什么？", "《夜思》的作者是谁？", "命令 ls 是做什么的？",
      ])
    #expect(
      result.evaluation.filter(\.trained).map(\.reference)[1...] == [
        "黄河入海流。", "《夜思》的作者是李白。", "ls 命令：列出目录内容。",
      ])
    let trained = Set(result.train.map(\.instruction))
    #expect(result.evaluation.allSatisfy { trained.contains($0.prompt) == $0.trained })
  }

  @Test func continuationsFollowTheVerse() {
    let result = SFTDataBuilder().build(poems: Self.poems, manPages: Self.pages)
    for record in result.train + result.heldOut where record.kind == .poemContinuation {
      let given = record.instruction.replacingOccurrences(of: "请接下一句：", with: "")
        .replacingOccurrences(of: "”的下一句是什么？", with: "")
        .replacingOccurrences(of: "“", with: "")
      let poem = Self.poems.first {
        $0.body.contains(given + record.output) || $0.lines.contains(given)
      }
      #expect(poem != nil, "\(record.instruction) → \(record.output)")
    }
  }

  @Test(arguments: [UInt64(0), 7])
  func sameSeedSameRecords(seed: UInt64) {
    var options = SFTDataBuilder.Options()
    options.seed = seed
    let a = SFTDataBuilder(options: options).build(poems: Self.poems, manPages: Self.pages)
    let b = SFTDataBuilder(options: options).build(poems: Self.poems, manPages: Self.pages)
    #expect(a.train == b.train && a.heldOut == b.heldOut)
    options.seed = seed + 1
    let c = SFTDataBuilder(options: options).build(poems: Self.poems, manPages: Self.pages)
    #expect(a.train != c.train)
    #expect(Set(a.train.map(\.instruction)).count > 10)
  }

  @Test func writesAlpacaLinesThatTheSFTReaderAccepts() throws {
    let result = SFTDataBuilder().build(poems: Self.poems, manPages: Self.pages)
    let path =
      FileManager.default.temporaryDirectory.path
      + "/minidemo-sft-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString).jsonl"
    defer { try? FileManager.default.removeItem(atPath: path) }
    try SFTDataBuilder.writeAlpaca(result.train, to: path)
    let reader = try CorpusReader(path: path)
    #expect(reader.format == .alpaca)
    var conversations: [Conversation] = []
    while let record = try reader.next() {
      guard case .conversation(let conversation) = record else {
        Issue.record("not a conversation: \(record)")
        break
      }
      conversations.append(conversation)
    }
    #expect(reader.statistics.rejectedCount == 0)
    #expect(conversations.count == result.train.count)
    for (conversation, record) in zip(conversations, result.train) {
      #expect(conversation.messages.map(\.content) == [record.instruction, record.output])
    }
  }

  @Test func sampleTakesEveryKindInTurn() {
    let result = SFTDataBuilder().build(poems: Self.poems, manPages: Self.pages)
    let sample = SFTDataBuilder.sample(result.train, count: 10, seed: 1)
    #expect(sample.count == 10)
    #expect(Set(sample.map(\.instruction)).count == 10)
    #expect(Set(sample.prefix(5).map(\.kind)).count == 5)
    #expect(sample == SFTDataBuilder.sample(result.train, count: 10, seed: 1))
  }

  @Test func heldOutCorpusSplitDependsOnTheTextAlone() throws {
    let documents = (0..<400).map {
      PretrainCorpus.Document(source: "chinese", text: "第\($0)条格言")
    }
    let folder =
      FileManager.default.temporaryDirectory.path
      + "/minidemo-corpus-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let summary = try PretrainCorpus.write(
      documents, trainPath: folder + "/train.jsonl", heldOutPath: folder + "/valid.jsonl",
      heldOutPercent: 10)
    #expect(summary.trainDocuments + summary.heldOutDocuments == 400)
    #expect((20...60).contains(summary.heldOutDocuments))
    let reversed = try PretrainCorpus.write(
      documents.reversed(), trainPath: folder + "/train2.jsonl",
      heldOutPath: folder + "/valid2.jsonl", heldOutPercent: 10)
    #expect(reversed.heldOutDocuments == summary.heldOutDocuments)
    let lines = try String(contentsOfFile: folder + "/valid.jsonl", encoding: .utf8)
      .split(separator: "\n")
    #expect(lines.count == summary.heldOutDocuments)
    #expect(lines.allSatisfy { $0.hasPrefix("{\"text\": \"第") })
  }

  /// Twelve poets of two four-verse poems each, and eight commands.
  static let examPoems: [Poem] = (0..<24).map { index in
    let digits = Array("一二三四五六七八九十百千")
    let poet = "诗人\(digits[index % 12])"
    let verse = { (line: Int) in
      "\(digits[index % 12])\(digits[(index / 12 + line) % 12])山水云，月\(digits[line])风花雪\(digits[index % 12])。"
    }
    return Poem(
      collection: "tang300", title: "题\(digits[index % 12])\(digits[index / 12])", author: poet,
      lines: (0..<4).map(verse))
  }
  static let examPages: [ManPage] = (0..<8).map { index in
    ManPage(roff: ".SH NAME\ncmd\(index) \\- 第\(index)个命令的说明", name: "cmd\(index)", section: "1")
  }

  @Test func examAsksHeldOutQuestionsWithOneRightChoice() throws {
    var options = SFTDataBuilder.Options()
    options.heldOutPercent = 50
    let result = SFTDataBuilder(options: options).build(
      poems: Self.examPoems, manPages: Self.examPages)
    let exam = result.exam
    #expect(Set(exam.map(\.kind)) == Set(DemoExam.kinds))
    let trained = Set(result.train.map(\.instruction))
    let heldOut = Dictionary(
      result.heldOut.map { ($0.instruction, $0.output) }, uniquingKeysWith: { a, _ in a })
    for item in exam {
      #expect(!trained.contains(item.question), "\(item.question) is in the training data")
      #expect(item.choices.count == DemoExam.choiceCount)
      #expect(Set(item.choices).count == item.choices.count, "\(item.choices)")
      // The right choice is the held-out record's reference answer.
      #expect(item.choices[item.answer] == heldOut[item.question], "\(item.question)")
    }
    for kind in DemoExam.kinds {
      #expect(exam.filter { $0.kind == kind }.count <= DemoExam.questionsPerKind)
    }
    // Wrong authors are other poets, in the same sentence.
    for item in exam where item.kind == .poemAuthor {
      let names = item.choices.compactMap { $0.firstMatch(of: /诗人./).map { String($0.0) } }
      #expect(Set(names).count == DemoExam.choiceCount, "\(item.choices)")
    }
    // Same seed, same exam.
    let again = SFTDataBuilder(options: options).build(
      poems: Self.examPoems, manPages: Self.examPages)
    #expect(again.exam == exam)
  }

  @Test func examFilesAreATaskFileAndJSONLines() throws {
    let items = [
      DemoExamItem(
        kind: .poemAuthor, question: "《夜思》的作者是谁？",
        choices: ["《夜思》的作者是王维。", "《夜思》的作者是李白。", "《夜思》的作者是杜甫。", "《夜思》的作者是\"白\"。"],
        answer: 1)
    ]
    let folder =
      FileManager.default.temporaryDirectory.path
      + "/minidemo-exam-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let task = try DemoExam.write(items, to: folder)
    #expect(task == folder + "/demo_exam.yaml")
    let yaml = try String(contentsOfFile: task, encoding: .utf8)
    #expect(yaml.contains("test: \"\(folder)/demo_exam.jsonl\""))
    #expect(yaml.contains("output_type: multiple_choice"))
    let line = try String(contentsOfFile: folder + "/demo_exam.jsonl", encoding: .utf8)
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
    #expect(object["choices"] as? [String] == items[0].choices)
    #expect(object["answer"] as? Int == 1)
    #expect(object["kind"] as? String == "poem_author")
    #expect(object["question"] as? String == items[0].question)
  }

  @Test func jsonStringsEscapeControlCharacters() {
    #expect(JSONLines.quoted("a\"b\\c\nd\u{01}") == #""a\"b\\c\nd\u0001""#)
  }
}
