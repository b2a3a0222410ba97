import Foundation
import MiniTokenize
import TestSupport
import Testing

@Suite("Preference data")
struct PreferenceDataTests {
  static func run(
    _ inputs: [String], renderer: ChatRenderer, tokenizer: SentencePieceTokenizer, output: String,
    configure: (inout PreferenceOptions) -> Void = { _ in },
    generator: RejectedAnswerGenerator? = nil
  ) async throws -> PreferenceShardIndex {
    var options = PreferenceOptions()
    options.batchBytes = 1_000
    configure(&options)
    return try await PreferencePipeline.run(
      inputs: inputs, renderer: renderer, tokenizerFile: ("tokenizer.model", tokenizer.modelBytes),
      output: output, options: options, rejectedGenerator: generator)
  }

  static let pair = PreferencePair(
    prompt: Conversation(
      system: "简洁回答",
      messages: [
        Message(role: .user, content: "床前明月光"), Message(role: .assistant, content: "疑是地上霜"),
        Message(role: .user, content: "举头望明月"),
      ]),
    chosen: "低头思故乡。", rejected: "hello world")

  @Test func pairIsPromptWithAssistantPrefixAndRepliesWithEndOfTurn() throws {
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let outcome = try PreferencePipeline.sample(from: Self.pair, renderer: renderer, maxLength: 512)
    guard case .kept(let sample, let dropped) = outcome else {
      Issue.record("dropped: \(outcome)")
      return
    }
    #expect(dropped == 0)
    let imEnd = Int32(try #require(tokenizer.id(for: "<|im_end|>")))
    let imStart = Int32(try #require(tokenizer.id(for: "<|im_start|>")))
    #expect(sample.chosenIDs == (try tokenizer.encode("低头思故乡。")).map(Int32.init) + [imEnd])
    #expect(sample.rejectedIDs == (try tokenizer.encode("hello world")).map(Int32.init) + [imEnd])
    let assistantPrefix = [imStart] + (try tokenizer.encode("assistant\n")).map(Int32.init)
    #expect(Array(sample.promptIDs.suffix(assistantPrefix.count)) == assistantPrefix)
    #expect(
      try tokenizer.decode(sample.promptIDs.map(Int.init))
        == "<|im_start|>system\n简洁回答<|im_end|>\n<|im_start|>user\n床前明月光<|im_end|>\n"
        + "<|im_start|>assistant\n疑是地上霜<|im_end|>\n<|im_start|>user\n举头望明月<|im_end|>\n"
        + "<|im_start|>assistant\n")
    // Prompt and chosen reply are the SFT rendering of the whole conversation.
    var conversation = Self.pair.prompt
    conversation.messages.append(Message(role: .assistant, content: Self.pair.chosen))
    let full = try renderer.render(conversation)
    #expect(sample.promptIDs + sample.chosenIDs == Array(full.ids.dropLast()))
  }

  @Test func longPromptsLoseTheirOldestTurnsThenTheWholePair() throws {
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let prompt = try renderer.prompt(for: Self.pair.prompt)
    let longest = max(
      try renderer.renderReply(Self.pair.chosen).count,
      try renderer.renderReply(Self.pair.rejected).count)
    let fits = prompt.ids.count + longest
    #expect(
      try PreferencePipeline.sample(from: Self.pair, renderer: renderer, maxLength: fits)
        == .kept(
          PreferenceSample(
            promptIDs: prompt.ids, chosenIDs: try renderer.renderReply(Self.pair.chosen),
            rejectedIDs: try renderer.renderReply(Self.pair.rejected)), droppedExchanges: 0))
    let shortPrompt = try renderer.renderPrompt(
      for: Conversation(system: "简洁回答", messages: [Self.pair.prompt.messages[2]]))
    guard
      case .kept(let sample, let dropped) = try PreferencePipeline.sample(
        from: Self.pair, renderer: renderer, maxLength: fits - 1)
    else {
      Issue.record("dropped at \(fits - 1)")
      return
    }
    #expect(dropped == 1)
    #expect(sample.promptIDs == shortPrompt)
    #expect(
      try PreferencePipeline.sample(
        from: Self.pair, renderer: renderer, maxLength: shortPrompt.count + longest - 1)
        == .dropped(.finalExchangeTooLong))
    var same = Self.pair
    same.rejected = same.chosen
    #expect(
      try PreferencePipeline.sample(from: same, renderer: renderer, maxLength: 512)
        == .dropped(.identicalReplies))
  }

  @Test func everyPreferenceFormat() async throws {
    let directory = try temporaryDirectory()
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let sharegpt = try writeFile(
      #"""
      [{"conversations": [{"from": "human", "value": "你好"}, {"from": "gpt", "value": "你好！"}, {"from": "human", "value": "你是谁？"}],
        "chosen": {"from": "gpt", "value": "我是 <NAME>。"}, "rejected": {"from": "gpt", "value": "不告诉你。"}}]
      """#, named: "pref.json", in: directory)
    let inputs = [
      fixturePath("dpo.jsonl"), fixturePath("hh_rlhf_cn.jsonl"), fixturePath("cvalues.jsonl"),
      fixturePath("zhihu_rlhf.tsv"), sharegpt,
    ]
    let output = (directory as NSString).appendingPathComponent("dpo")
    let index = try await Self.run(inputs, renderer: renderer, tokenizer: tokenizer, output: output)
    {
      $0.placeholders = ["name": "小迷你"]
    }
    #expect(index.sources.map(\.format) == [.dpo, .hhRLHF, .cvalues, .tsv, .sharegptPreference])
    #expect(index.sources.map(\.kept) == [2, 2, 3, 2, 1])
    #expect(index.kept == 10 && index.dropped.isEmpty && index.rejected.isEmpty)
    let dataset = try PreferenceDataset(directory: output)
    #expect(dataset.count == 10)
    // hh_rlhf_cn's first record keeps its multi-turn context.
    let hh = try tokenizer.decode(dataset[2].promptIDs.map(Int.init))
    #expect(hh.hasPrefix("<|im_start|>user\n怎么做番茄炒蛋？<|im_end|>\n<|im_start|>assistant\n先炒蛋，再炒番茄。"))
    #expect(hh.hasSuffix("<|im_start|>user\n要放糖吗？<|im_end|>\n<|im_start|>assistant\n"))
    // dpo.jsonl's second record carries a system prompt and `answer: [chosen, rejected]`.
    #expect(
      try tokenizer.decode(dataset[1].promptIDs.map(Int.init)).hasPrefix(
        "<|im_start|>system\n请认真回答"))
    #expect(try tokenizer.decode(dataset[1].chosenIDs.map(Int.init)) == "蓝色<|im_end|>")
    #expect(try tokenizer.decode(dataset[9].chosenIDs.map(Int.init)) == "我是 小迷你。<|im_end|>")
    #expect(index.promptTokens == (0..<10).reduce(0) { $0 + dataset[$1].promptIDs.count })
    #expect(index.chosenTokens == (0..<10).reduce(0) { $0 + dataset[$1].chosenIDs.count })
  }

  @Test(.requires(.shared("corpora/dpo_zh_demo.json"))) func dpoZhDemoCounts() async throws {
    let path = try requireShared("corpora/dpo_zh_demo.json")
    let directory = try temporaryDirectory()
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let output = (directory as NSString).appendingPathComponent("dpo")
    let maxLength = 1024
    let index = try await Self.run([path], renderer: renderer, tokenizer: tokenizer, output: output)
    {
      $0.maxLength = maxLength
      $0.batchBytes = 1 << 16
    }
    // Count independently from the whole renderings.
    let reader = try CorpusReader(path: path)
    var fit = 0
    var tooLong = 0
    var identical = 0
    while case .preference(let pair)? = try reader.next() {
      if pair.chosen == pair.rejected {
        identical += 1
        continue
      }
      let prompt = try renderer.renderPrompt(for: pair.prompt).count
      let reply = max(
        try renderer.renderReply(pair.chosen).count, try renderer.renderReply(pair.rejected).count)
      if prompt + reply <= maxLength { fit += 1 } else { tooLong += 1 }
    }
    #expect(fit + tooLong + identical == 300)
    #expect(index.sources.first?.records == 300)
    #expect(index.sources.first?.format == .sharegptPreference)
    // Pairs that did not fit are either truncated (multi-turn prompts) or dropped.
    #expect(index.kept == fit + index.truncated)
    #expect(index.kept + index.dropped.values.reduce(0, +) == 300)
    #expect(index.dropped[.identicalReplies, default: 0] == identical)
    #expect(fit > 50 && tooLong > 0, "1024 tokens should split this corpus (\(fit) fit)")
    let dataset = try PreferenceDataset(directory: output)
    #expect(dataset.count == index.kept)
    for position in 0..<dataset.count {
      let pair = dataset[position]
      #expect(pair.promptIDs.count + max(pair.chosenIDs.count, pair.rejectedIDs.count) <= maxLength)
      #expect(
        pair.chosenIDs.last == renderer.endOfTurnID && pair.rejectedIDs.last == renderer.endOfTurnID
      )
    }
  }

  @Test func rejectedGeneratorTurnsConversationsIntoPairs() async throws {
    let directory = try temporaryDirectory()
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let output = (directory as NSString).appendingPathComponent("dpo")
    var prompts: [[Int32]] = []
    let index = try await Self.run(
      [fixturePath("minimind.jsonl"), fixturePath("dpo.jsonl")], renderer: renderer,
      tokenizer: tokenizer, output: output,
      generator: { prompt, promptIDs in
        prompts.append(promptIDs)
        let expected = try renderer.renderPrompt(for: prompt)
        #expect(promptIDs == expected)
        return "generated \(prompts.count)"
      })
    #expect(prompts.count == 2)
    #expect(index.kept == 4 && index.generatedRejected == 2)
    let dataset = try PreferenceDataset(directory: output)
    #expect(dataset[0].promptIDs == prompts[0])
    #expect(try tokenizer.decode(dataset[0].chosenIDs.map(Int.init)) == "你好！我是 MiniMind。<|im_end|>")
    #expect(try tokenizer.decode(dataset[1].rejectedIDs.map(Int.init)) == "generated 2<|im_end|>")
    // Without a generator, conversations are refused.
    await #expect(throws: ChatDataError.self) {
      _ = try await Self.run(
        [fixturePath("minimind.jsonl")], renderer: renderer, tokenizer: tokenizer,
        output: (directory as NSString).appendingPathComponent("other"))
    }
  }
}

@Suite("PreferenceDataset validation")
struct PreferenceDatasetValidationTests {
  @Test(arguments: [
    (
      #"{"prompt_ids":[1],"chosen_ids":[2],"rejected_ids":[9]}"#, "'rejected_ids[0]' = 9 is outside"
    ),
    (#"{"prompt_ids":[1],"chosen_ids":[],"rejected_ids":[3]}"#, "'chosen_ids' is empty"),
    (#"{"prompt_ids":[1],"chosen_ids":[2]}"#, "missing member 'rejected_ids'"),
    (#"["prompt_ids"]"#, "invalid JSON"),
  ])
  func badRecordsNameFileAndLine(line: String, message: String) throws {
    let directory = try temporaryDirectory()
    let good = #"{"prompt_ids":[1,2],"chosen_ids":[3],"rejected_ids":[4,5]}"#
    let path = try writeFile(
      good + "\n" + good + "\n" + line + "\n", named: "p.jsonl", in: directory)
    do {
      _ = try PreferenceDataset(files: [path], vocabularySize: 8)
      Issue.record("accepted \(line)")
    } catch ChatDataError.badRecord(let file, let number, let detail) {
      #expect(file == path && number == 3)
      #expect(detail.contains(message), "\(detail)")
    }
  }

  @Test func readsPairs() throws {
    let directory = try temporaryDirectory()
    let path = try writeFile(
      #"{"prompt_ids":[1,2],"chosen_ids":[3],"rejected_ids":[4,5]}"# + "\n"
        + #"{"rejected_ids":[7],"chosen_ids":[6, 6],"prompt_ids":[0]}"#, named: "p.jsonl",
      in: directory)
    let dataset = try PreferenceDataset(files: [path], vocabularySize: 8)
    #expect(dataset.count == 2)
    #expect(
      dataset[0] == PreferenceSample(promptIDs: [1, 2], chosenIDs: [3], rejectedIDs: [4, 5]))
    #expect(dataset[1] == PreferenceSample(promptIDs: [0], chosenIDs: [6, 6], rejectedIDs: [7]))
  }
}
