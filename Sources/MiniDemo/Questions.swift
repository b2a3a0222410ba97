/// Questions about a poem: its author, its next (half-)line, the whole text.
enum PoemQuestions {
  static func author(of poem: Poem, using rng: inout SplitMix64) -> InstructionRecord {
    authorQuestion(of: poem, using: &rng).record
  }

  /// The author question and its answer with the poet's name marked (for the exam).
  static func authorQuestion(of poem: Poem, using rng: inout SplitMix64)
    -> (record: InstructionRecord, answer: ExamAnswer)
  {
    let t = poem.title
    let a = poem.author
    let phrasings = [
      ("《\(t)》的作者是谁？", ExamAnswer(before: "《\(t)》的作者是", key: a, after: "。")),
      ("《\(t)》是谁写的？", ExamAnswer(before: "《\(t)》是", key: a, after: "写的。")),
      ("谁写了《\(t)》？", ExamAnswer(before: "", key: a, after: "写了《\(t)》。")),
    ]
    let (question, answer) = phrasings[rng.index(below: phrasings.count)]
    return (
      InstructionRecord(kind: .poemAuthor, instruction: question, output: answer.with(a)), answer
    )
  }

  /// Every continuation question of a poem: the second half of each verse split at its first
  /// comma, and the line after each line.
  static func continuations(of poem: Poem, using rng: inout SplitMix64) -> [InstructionRecord] {
    var records: [InstructionRecord] = []
    let verses = poem.verses
    for (index, verse) in verses.enumerated() {
      if let half = halfLine(verse) {
        records.append(continuation(half.first, half.second, using: &rng))
      }
      if index + 1 < verses.count {
        records.append(continuation(verse, verses[index + 1], using: &rng))
      }
    }
    return records
  }

  /// `床前明月光，疑是地上霜。` → (`床前明月光，`, `疑是地上霜。`); nil without a comma inside.
  static func halfLine(_ verse: String) -> (first: String, second: String)? {
    guard let comma = verse.firstIndex(where: { $0 == "，" || $0 == "," }) else { return nil }
    let cut = verse.index(after: comma)
    guard cut < verse.endIndex else { return nil }
    return (String(verse[..<cut]), String(verse[cut...]))
  }

  static func continuation(_ given: String, _ next: String, using rng: inout SplitMix64)
    -> InstructionRecord
  {
    let phrasings = ["“\(given)”的下一句是什么？", "请接下一句：\(given)"]
    return InstructionRecord(
      kind: .poemContinuation, instruction: phrasings[rng.index(below: phrasings.count)],
      output: next)
  }

  static func recitation(of poem: Poem, using rng: inout SplitMix64) -> InstructionRecord {
    let phrasings = ["请背诵《\(poem.title)》。", "背一首\(poem.author)的《\(poem.title)》。"]
    return InstructionRecord(
      kind: .poemRecitation, instruction: phrasings[rng.index(below: phrasings.count)],
      output: poem.body)
  }
}

/// A question about a man page, from its NAME line.
enum ManPageQuestions {
  /// What the page is about, in Chinese: `命令` (sections 1, 6, 8), `函数` (2, 3), or nothing.
  static func noun(section: String) -> String? {
    switch section {
    case "1", "6", "8": "命令"
    case "2", "3": "函数"
    default: nil
    }
  }

  /// Nil when the NAME line has no Chinese description or the name is not a plain word.
  static func question(about page: ManPage, using rng: inout SplitMix64)
    -> (subject: String, record: InstructionRecord, answer: ExamAnswer)?
  {
    guard let summary = page.summary, let name = summary.names.first,
      name.allSatisfy({ $0.isASCII && !$0.isWhitespace }),
      summary.description.unicodeScalars.contains(where: \.isCJKIdeograph)
    else { return nil }
    var description = summary.description
    while let last = description.last, "。.；;，,".contains(last) { description.removeLast() }
    let noun = noun(section: page.section)
    let phrasings: [String]
    let answer: ExamAnswer
    if let noun {
      phrasings = ["\(noun) \(name) 是做什么的？", "\(name) \(noun)有什么用？"]
      answer = ExamAnswer(before: "\(name) \(noun)：", key: description, after: "。")
    } else {
      phrasings = ["\(name) 是什么？"]
      answer = ExamAnswer(before: "\(name)：", key: description, after: "。")
    }
    let question = phrasings[rng.index(below: phrasings.count)]
    return (
      name,
      InstructionRecord(kind: .manPage, instruction: question, output: answer.with(description)),
      answer
    )
  }
}

/// A prompt of the before/after table, with the reference answer when there is one.
public struct EvaluationPrompt: Sendable, Hashable {
  /// What the prompt tests.
  public var kind: InstructionRecord.Kind
  /// The user's message.
  public var prompt: String
  /// The reference answer (with `{{name}}`/`{{author}}` placeholders for self-cognition).
  public var reference: String
  /// Whether the prompt is in the training records (false: a held-out question, to show
  /// what the model does with a question it never saw).
  public var trained = true

  /// The prompt as a training record.
  var record: InstructionRecord {
    InstructionRecord(kind: kind, instruction: prompt, output: reference)
  }

  /// The fixed prompts: `你是谁？`, the continuation of the first half-line of 《登鹳雀楼》
  /// (else of the first poem), the author of 《夜思》 (else of the first poem), and what `ls`
  /// does (else the first man page with a Chinese NAME line).
  static func choose(poems: [Poem], manPages: [ManPage]) -> [EvaluationPrompt] {
    var prompts: [EvaluationPrompt] = []
    if let who = SelfCognition.templates.first {
      prompts.append(
        EvaluationPrompt(kind: .selfCognition, prompt: who.question, reference: who.answer))
    }
    let continued = poems.first { $0.title == "登鹳雀楼" } ?? poems.first
    if let poem = continued, let verse = poem.verses.first, let half = PoemQuestions.halfLine(verse)
    {
      prompts.append(
        EvaluationPrompt(
          kind: .poemContinuation, prompt: "“\(half.first)”的下一句是什么？", reference: half.second))
    }
    if let poem = poems.first(where: { $0.title == "夜思" }) ?? poems.first {
      prompts.append(
        EvaluationPrompt(
          kind: .poemAuthor, prompt: "《\(poem.title)》的作者是谁？",
          reference: "《\(poem.title)》的作者是\(poem.author)。"))
    }
    var rng = SplitMix64(seed: 0)
    let pages = manPages.filter { $0.name == "ls" && $0.section == "1" } + manPages
    for page in pages {
      guard let question = ManPageQuestions.question(about: page, using: &rng),
        let noun = ManPageQuestions.noun(section: page.section)
      else { continue }
      let name = question.subject
      prompts.append(
        EvaluationPrompt(
          kind: .manPage, prompt: "\(noun) \(name) 是做什么的？", reference: question.record.output))
      break
    }
    return prompts
  }
}
