import Foundation

/// Builds the demo's instruction-tuning data from the self-cognition set, the poems and the man
/// pages, with a held-out part and the fixed evaluation prompts.
public struct SFTDataBuilder: Sendable {
  /// Settings of the builder.
  public struct Options: Sendable, Equatable {
    /// Seed of every choice (phrasings, which lines are asked, the order of the records).
    public var seed: UInt64 = 0
    /// Percent of the questions (by a hash of the question) held out of training, 0–50.
    public var heldOutPercent = 5
    /// Copies of each self-cognition record in the training part (so a short fine-tune sees
    /// them often enough).
    public var selfCognitionRepeats = 3
    /// Continuation questions (next half-line or next line) asked per poem, at most.
    public var continuationsPerPoem = 2
    /// Poems with more lines than this are not recited.
    public var recitationMaxLines = 8
    /// Poems with more characters than this are not recited.
    public var recitationMaxCharacters = 100

    /// The defaults above.
    public init() {}
  }

  /// The built data.
  public struct Result: Sendable {
    /// Training records, shuffled.
    public var train: [InstructionRecord]
    /// Held-out records (none of their questions is in `train`).
    public var heldOut: [InstructionRecord]
    /// The prompts of the before/after table: the fixed ones (in `train`), then one held-out
    /// author question when there is one.
    public var evaluation: [EvaluationPrompt]
    /// The multiple-choice exam: held-out author, continuation and man-page questions.
    public var exam: [DemoExamItem] = []
  }

  /// The settings.
  public var options: Options

  /// Creates a builder.
  public init(options: Options = Options()) {
    precondition((0...50).contains(options.heldOutPercent), "heldOutPercent ∉ 0...50")
    self.options = options
  }

  /// Builds the records.
  ///
  /// - Parameters:
  ///   - poems: Poems to ask about (titles that name poems by different authors are skipped
  ///     for author questions).
  ///   - manPages: Man pages; those whose NAME line has a Chinese description are asked about.
  /// - Returns: Training and held-out records and the evaluation prompts; the same for the same
  ///   inputs and seed.
  public func build(poems: [Poem], manPages: [ManPage]) -> Result {
    var rng = SplitMix64(seed: options.seed)
    var candidates: [InstructionRecord] = SelfCognition.templates.map {
      InstructionRecord(kind: .selfCognition, instruction: $0.question, output: $0.answer)
    }
    let evaluation = EvaluationPrompt.choose(poems: poems, manPages: manPages)
    candidates += evaluation.map(\.record)

    var answers: [String: ExamAnswer] = [:]
    var ambiguous = Set<String>()
    var pools: [InstructionRecord.Kind: [String]] = [:]
    var authors: [String: Set<String>] = [:]
    for poem in poems { authors[poem.title, default: []].insert(poem.author) }
    for poem in poems {
      if authors[poem.title]?.count == 1 {
        let (record, answer) = PoemQuestions.authorQuestion(of: poem, using: &rng)
        candidates.append(record)
        answers[record.instruction] = answer
        pools[.poemAuthor, default: []].append(poem.author)
      }
      var continuations = PoemQuestions.continuations(of: poem, using: &rng)
      for record in continuations {
        // A given half-line that more than one poem continues has no single answer.
        if let known = answers[record.instruction], known.key != record.output {
          ambiguous.insert(record.instruction)
        } else {
          answers[record.instruction] = ExamAnswer(before: "", key: record.output, after: "")
        }
        pools[.poemContinuation, default: []].append(record.output)
      }
      rng.shuffle(&continuations)
      candidates += continuations.prefix(options.continuationsPerPoem)
      if poem.lines.count <= options.recitationMaxLines,
        poem.body.count <= options.recitationMaxCharacters
      {
        candidates.append(PoemQuestions.recitation(of: poem, using: &rng))
      }
    }
    var named = Set<String>()
    for page in manPages {
      guard let question = ManPageQuestions.question(about: page, using: &rng),
        named.insert(question.subject).inserted
      else { continue }
      candidates.append(question.record)
      answers[question.record.instruction] = question.answer
      pools[.manPage, default: []].append(question.answer.key)
    }
    for question in ambiguous { answers[question] = nil }

    let pinned = Set(evaluation.map(\.prompt))
    var seen = Set<String>()
    var train: [InstructionRecord] = []
    var heldOut: [InstructionRecord] = []
    for record in candidates where seen.insert(record.instruction).inserted {
      if !pinned.contains(record.instruction),
        PretrainCorpus.isHeldOut(record.instruction, percent: options.heldOutPercent)
      {
        heldOut.append(record)
      } else {
        let copies = record.kind == .selfCognition ? max(1, options.selfCognitionRepeats) : 1
        train += Array(repeating: record, count: copies)
      }
    }
    rng.shuffle(&train)
    var prompts = evaluation
    if let unseen = heldOut.first(where: { $0.kind == .poemAuthor }) {
      prompts.append(
        EvaluationPrompt(
          kind: unseen.kind, prompt: unseen.instruction, reference: unseen.output, trained: false))
    }
    let exam = DemoExam.items(
      heldOut: heldOut, answers: answers, pools: pools, seed: options.seed)
    return Result(train: train, heldOut: heldOut, evaluation: prompts, exam: exam)
  }

  /// Writes records as Alpaca JSON lines (`instruction`, `input`, `output`).
  ///
  /// - Throws: When the file cannot be written.
  public static func writeAlpaca(_ records: [InstructionRecord], to path: String) throws {
    var lines = JSONLines()
    for record in records { lines.append(record.alpacaFields) }
    try lines.write(to: path)
  }

  /// A seeded sample of at most `count` distinct records, taken round-robin over the kinds so
  /// every kind is represented (e.g. the prompts of the preference pairs).
  public static func sample(
    _ records: [InstructionRecord], count: Int, seed: UInt64
  ) -> [InstructionRecord] {
    var rng = SplitMix64(seed: seed)
    var byKind: [InstructionRecord.Kind: [InstructionRecord]] = [:]
    var seen = Set<String>()
    for record in records where seen.insert(record.instruction).inserted {
      byKind[record.kind, default: []].append(record)
    }
    var queues = byKind.keys.sorted().map { kind -> [InstructionRecord] in
      var queue = byKind[kind] ?? []
      rng.shuffle(&queue)
      return queue
    }
    var sample: [InstructionRecord] = []
    while sample.count < count, queues.contains(where: { !$0.isEmpty }) {
      for index in queues.indices where !queues[index].isEmpty && sample.count < count {
        sample.append(queues[index].removeFirst())
      }
    }
    return sample
  }
}
