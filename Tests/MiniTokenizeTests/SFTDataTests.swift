import Foundation
import MiniTokenize
import TestSupport
import Testing

@Suite("SFT data")
struct SFTDataTests {
  static func run(
    _ inputs: [String], renderer: ChatRenderer, tokenizer: SentencePieceTokenizer, output: String,
    configure: (inout SFTOptions) -> Void = { _ in }
  ) async throws -> SFTShardIndex {
    var options = SFTOptions()
    options.batchBytes = 2_000
    options.samplesPerShard = 40
    configure(&options)
    return try await SFTPipeline.run(
      inputs: inputs, renderer: renderer, tokenizerFile: ("tokenizer.model", tokenizer.modelBytes),
      output: output, options: options)
  }

  @Test func dropPolicyDropsLongConversations() throws {
    let renderer = try ChatRenderer(template: .chatml, tokenizer: try trainTinyModel())
    let conversation = ChatTemplateTests.conversation
    let full = try renderer.render(conversation)
    #expect(
      try SFTPipeline.sample(
        from: conversation, renderer: renderer, maxLength: full.ids.count, overflow: .drop)
        == .kept(full, droppedExchanges: 0))
    #expect(
      try SFTPipeline.sample(
        from: conversation, renderer: renderer, maxLength: full.ids.count - 1, overflow: .drop)
        == .dropped(.tooLong))
  }

  @Test func truncateHistoryKeepsSystemAndLatestTurns() throws {
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let conversation = ChatTemplateTests.conversation
    let full = try renderer.render(conversation)
    let latest = Conversation(
      system: conversation.system, messages: Array(conversation.messages[2...]))
    let expected = try renderer.render(latest)
    let outcome = try SFTPipeline.sample(
      from: conversation, renderer: renderer, maxLength: full.ids.count - 1,
      overflow: .truncateHistory)
    #expect(outcome == .kept(expected, droppedExchanges: 1))
    // The system prompt alone plus the final exchange no longer fit: dropped.
    #expect(
      try SFTPipeline.sample(
        from: conversation, renderer: renderer, maxLength: expected.ids.count - 1,
        overflow: .truncateHistory) == .dropped(.finalExchangeTooLong))
    // A single exchange longer than the limit is dropped too.
    let single = Conversation(messages: Array(conversation.messages[..<2]))
    let singleLength = try renderer.render(single).ids.count
    #expect(
      try SFTPipeline.sample(
        from: single, renderer: renderer, maxLength: singleLength - 1, overflow: .truncateHistory)
        == .dropped(.finalExchangeTooLong))
  }

  /// Writes a ShareGPT JSONL file with multi-turn conversations, placeholders and bad records.
  static func writeSharegpt(in directory: String) throws -> String {
    var lines: [String] = []
    let texts = trainingLines(count: 60, seed: 11)
    for index in 0..<20 {
      var turns: [[String: String]] = []
      for turn in 0..<(1 + index % 4) {
        turns.append(["from": "human", "value": texts[(index + turn) % texts.count]])
        turns.append([
          "from": "gpt", "value": "我是 <NAME>。" + texts[(index + 2 * turn + 1) % texts.count],
        ])
      }
      var record: [String: Any] = ["conversations": turns]
      if index % 5 == 0 { record["system"] = "你是 {{name}}，由 {{author}} 开发。" }
      let data = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
      lines.append(String(decoding: data, as: UTF8.self))
    }
    // One exchange longer than any limit the tests use.
    let long = String(repeating: texts[0], count: 20)
    lines.append(
      #"{"conversations": [{"from": "human", "value": "长"}, {"from": "gpt", "value": "\#(long)"}]}"#
    )
    lines.insert(#"{"conversations": [{"from": "human", "value": "只有问题"}]}"#, at: 3)
    lines.insert(#"{"conversations": "not a list"}"#, at: 7)
    lines.insert(
      #"{"conversations": [{"from": "alien", "value": "?"}, {"from": "gpt", "value": "!"}]}"#, at: 9
    )
    lines.insert(#"{"conversations": [{"from": "human", "value": "x"}, "#, at: 11)
    return try writeFile(lines.joined(separator: "\n") + "\n", named: "chat.jsonl", in: directory)
  }

  @Test(arguments: [SFTOverflowPolicy.drop, .truncateHistory])
  func pipelineWritesShardsIndexTokenizerAndConfig(overflow: SFTOverflowPolicy) async throws {
    let directory = try temporaryDirectory()
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let input = try Self.writeSharegpt(in: directory)
    let output = (directory as NSString).appendingPathComponent("sft")
    let maxLength = 260
    let placeholders = ["name": "小迷你", "author": "MiniLLM"]
    let index = try await Self.run(
      [input], renderer: renderer, tokenizer: tokenizer, output: output
    ) {
      $0.maxLength = maxLength
      $0.overflow = overflow
      $0.system = "默认系统"
      $0.placeholders = placeholders
      $0.maximumBadFraction = 0.5
      $0.samplesPerShard = 7
    }
    // The expected samples, rendered one by one from the reader's records.
    let reader = try CorpusReader(path: input, placeholders: placeholders)
    var expected: [RenderedChat] = []
    var dropped: [SampleDropReason: Int] = [:]
    var truncated = 0
    while let record = try reader.next() {
      guard case .conversation(var conversation) = record else { continue }
      if conversation.system == nil { conversation.system = "默认系统" }
      switch try SFTPipeline.sample(
        from: conversation, renderer: renderer, maxLength: maxLength, overflow: overflow)
      {
      case .kept(let chat, let droppedExchanges):
        expected.append(chat)
        if droppedExchanges > 0 { truncated += 1 }
      case .dropped(let reason): dropped[reason, default: 0] += 1
      }
    }
    #expect(reader.statistics.records == 25)
    #expect(reader.statistics.rejected == [.missingField: 1, .wrongType: 2, .invalidJSON: 1])
    #expect(index.rejected == reader.statistics.rejected)
    #expect(index.sources.first?.records == 25)
    #expect(index.kept == expected.count)
    #expect(index.truncated == truncated)
    #expect(index.dropped == dropped)
    #expect(index.kept + dropped.values.reduce(0, +) == 21)
    switch overflow {
    case .drop: #expect(dropped[.tooLong, default: 0] > 1)
    case .truncateHistory:
      #expect(truncated > 0)
      #expect(dropped == [.finalExchangeTooLong: 1])
    }
    #expect(index.shards.count == (expected.count + 6) / 7)
    #expect(index.tokens == expected.reduce(0) { $0 + $1.ids.count })
    #expect(index.supervisedTokens == expected.reduce(0) { $0 + $1.supervisedCount })
    #expect(index.template == .chatml)
    #expect(index.overflow == overflow)
    #expect(index.tokenizer.sha256 == tokenizer.sha256)

    let dataset = try SFTDataset(directory: output)
    #expect(dataset.count == expected.count)
    for (position, chat) in expected.enumerated() {
      #expect(dataset[position] == SFTSample(inputIDs: chat.ids, lossMask: chat.lossMask))
      #expect(dataset.length(of: position) <= maxLength)
    }
    let texts = try (0..<dataset.count).map {
      try tokenizer.decode(dataset[$0].inputIDs.map(Int.init))
    }
    #expect(texts.allSatisfy { !$0.contains("<NAME>") && !$0.contains("{{name}}") })
    #expect(texts.contains { $0.contains("你是 小迷你，由 MiniLLM 开发。") })
    #expect(texts.contains { $0.contains("<|im_start|>system\n默认系统<|im_end|>") })

    // The folder is self-contained: tokenizer files (as in a model directory), config, index.
    let copied = try SentencePieceTokenizer(contentsOf: output)
    #expect(copied.modelBytes == tokenizer.modelBytes)
    let json = try Data(
      contentsOf: URL(
        fileURLWithPath: (output as NSString).appendingPathComponent("tokenizer.json")))
    #expect(Array(json) == tokenizer.tokenizerJSON(addsBOS: false, addsEOS: false))
    let configData = try Data(
      contentsOf: URL(
        fileURLWithPath: (output as NSString).appendingPathComponent("tokenizer_config.json")))
    let config = try #require(try JSONSerialization.jsonObject(with: configData) as? [String: Any])
    #expect(config["chat_template"] as? String == ChatTemplate.chatml.jinja)
    #expect(config["eos_token"] as? String == "<|im_end|>")
    #expect(config["tokenizer_class"] as? String == "PreTrainedTokenizerFast")
    #expect(config["model_max_length"] as? Int == maxLength)
    #expect(config["add_bos_token"] as? Bool == false)
    let added = try #require(config["added_tokens_decoder"] as? [String: [String: Any]])
    #expect(added[String(renderer.endOfTurnID)]?["content"] as? String == "<|im_end|>")

    // A second run refuses to overwrite; with overwrite it gives identical files.
    await #expect(throws: ChatDataError.self) {
      _ = try await Self.run([input], renderer: renderer, tokenizer: tokenizer, output: output) {
        $0.maximumBadFraction = 0.5
      }
    }
    let first = try shardBytes(output)
    let again = try await Self.run(
      [input], renderer: renderer, tokenizer: tokenizer, output: output
    ) {
      $0.maxLength = maxLength
      $0.overflow = overflow
      $0.system = "默认系统"
      $0.placeholders = placeholders
      $0.maximumBadFraction = 0.5
      $0.samplesPerShard = 7
      $0.overwrite = true
      $0.batchBytes = 500
    }
    #expect(again == index)
    #expect(try shardBytes(output) == first)
  }

  func shardBytes(_ directory: String) throws -> [String: Data] {
    var files: [String: Data] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: directory) {
      files[name] = try Data(
        contentsOf: URL(fileURLWithPath: (directory as NSString).appendingPathComponent(name)))
    }
    return files
  }

  @Test func tooManyBadRecordsFailsAndLeavesNoShard() async throws {
    let directory = try temporaryDirectory()
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let input = try Self.writeSharegpt(in: directory)
    let output = (directory as NSString).appendingPathComponent("sft")
    do {
      _ = try await Self.run([input], renderer: renderer, tokenizer: tokenizer, output: output)
      Issue.record("4 bad records of 25 passed the 1% limit")
    } catch ChatDataError.tooManyBadRecords(let rejected, let records, _, let first) {
      #expect(rejected == 4 && records == 25)
      #expect(first.map(\.record.line) == [4, 8, 10, 12])
    }
    let left = try FileManager.default.contentsOfDirectory(atPath: output)
    #expect(left.isEmpty, "\(left)")
  }

  @Test func documentsAreRefused() async throws {
    let directory = try temporaryDirectory()
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let input = try writeFile(#"{"text": "a document"}"# + "\n", named: "docs.jsonl", in: directory)
    await #expect(throws: ChatDataError.self) {
      _ = try await Self.run(
        [input], renderer: renderer, tokenizer: tokenizer,
        output: (directory as NSString).appendingPathComponent("out"))
    }
  }

  @Test(.requires(.shared("corpora/identity.json"))) func identityWithNameAndAuthor() async throws {
    let path = try requireShared("corpora/identity.json")
    let directory = try temporaryDirectory()
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .humanRobot, tokenizer: tokenizer)
    let output = (directory as NSString).appendingPathComponent("sft")
    let index = try await Self.run([path], renderer: renderer, tokenizer: tokenizer, output: output)
    {
      $0.maxLength = 1024
      $0.placeholders = ["name": "小迷你", "author": "MiniLLM团队"]
    }
    #expect(index.sources.map(\.format) == [.alpaca])
    #expect(index.sources.first?.records == 91)
    #expect(index.kept == 91 && index.dropped.isEmpty && index.rejected.isEmpty)
    let dataset = try SFTDataset(directory: output)
    #expect(dataset.count == 91)
    // Replies that name both the assistant and its author, counted in the raw file.
    let raw = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
    let outputs = try #require(raw as? [[String: String]]).compactMap { $0["output"] }
    let naming = outputs.filter { $0.contains("{{name}}") && $0.contains("{{author}}") }.count
    let eos = Int32(try #require(tokenizer.specialIDs.eos))
    var named = 0
    for position in 0..<dataset.count {
      let sample = dataset[position]
      #expect(sample.inputIDs.last == eos && sample.lossMask.last == 1)
      #expect(sample.lossMask.first == 0)
      let supervised = zip(sample.inputIDs, sample.lossMask).filter { $1 == 1 }.map { Int($0.0) }
      let reply = try tokenizer.decode(supervised)
      #expect(!reply.contains("{{"), "\(reply)")
      if reply.contains("小迷你") && reply.contains("MiniLLM团队") { named += 1 }
    }
    #expect(named == naming && naming > 40)
  }

  @Test(.requires(.shared("corpora/alpaca_zh_demo.json"))) func alpacaZhDemoCounts() async throws {
    let path = try requireShared("corpora/alpaca_zh_demo.json")
    let directory = try temporaryDirectory()
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let output = (directory as NSString).appendingPathComponent("sft")
    let maxLength = 512
    let index = try await Self.run([path], renderer: renderer, tokenizer: tokenizer, output: output)
    {
      $0.maxLength = maxLength
      $0.samplesPerShard = 300
      $0.batchBytes = 1 << 16
    }
    // Count independently: render every record and compare with the limit.
    let reader = try CorpusReader(path: path)
    var lengths: [Int] = []
    while case .conversation(let conversation)? = try reader.next() {
      lengths.append(try renderer.render(conversation).ids.count)
    }
    #expect(lengths.count == 1000)
    let fitting = lengths.filter { $0 <= maxLength }.count
    #expect(index.sources.first?.records == 1000)
    #expect(index.kept == fitting)
    #expect(index.dropped == (fitting < 1000 ? [.tooLong: 1000 - fitting] : [:]))
    #expect(
      index.shards.map(\.samples)
        == stride(from: 0, to: fitting, by: 300).map { min(300, fitting - $0) })
    #expect(fitting > 100 && fitting < 1000, "512 tokens should split this corpus (\(fitting) fit)")
    let dataset = try SFTDataset(directory: output)
    #expect(dataset.count == fitting)
    #expect(dataset.tokenCount == index.tokens)
  }
}

@Suite("SFTDataset validation")
struct SFTDatasetValidationTests {
  @Test func readsEquivalentJSONSpellings() throws {
    let directory = try temporaryDirectory()
    let path = try writeFile(
      """
      {"input_ids":[1,2,3],"loss_mask":[0,1,1]}

      { "loss_mask" : [ 0 , 1 ], "input_ids" : [ 7 , 0 ], "source": {"name": "x"} }
      {"input_ids": [5.0, 6], "\\u006coss_mask": [1, 0]}
      """, named: "hand.jsonl", in: directory)
    let dataset = try SFTDataset(files: [path], vocabularySize: 8)
    #expect(dataset.count == 3)
    #expect(dataset[0] == SFTSample(inputIDs: [1, 2, 3], lossMask: [0, 1, 1]))
    #expect(dataset[1] == SFTSample(inputIDs: [7, 0], lossMask: [0, 1]))
    #expect(dataset[2] == SFTSample(inputIDs: [5, 6], lossMask: [1, 0]))
    #expect(dataset.index == nil)
  }

  @Test(arguments: [
    (
      #"{"input_ids":[1,2,8],"loss_mask":[0,1,1]}"#,
      "'input_ids[2]' = 8 is outside the vocabulary 0..<8"
    ),
    (#"{"input_ids":[1,2],"loss_mask":[0,1,1]}"#, "'loss_mask' has 3 values for 2 input ids"),
    (#"{"input_ids":[1,2],"loss_mask":[0,2]}"#, "'loss_mask[1]' = 2 is not 0 or 1"),
    (#"{"input_ids":[],"loss_mask":[]}"#, "'input_ids' is empty"),
    (#"{"input_ids":[1,-2],"loss_mask":[0,1]}"#, "'input_ids[1]' = -2 is not a token id"),
    (#"{"input_ids":[1,2.5],"loss_mask":[0,1]}"#, "'input_ids[1]' = 2.5 is not a token id"),
    (#"{"input_ids":[1,"2"],"loss_mask":[0,1]}"#, "'input_ids[1]' is a string, not an integer"),
    (#"{"input_ids":[1,2]}"#, "missing member 'loss_mask'"),
    (#"{"input_ids":[1,2],"loss_mask":[0,1]"#, "invalid JSON"),
    (#"{"input_ids":7,"loss_mask":[0]}"#, "'input_ids' is a number, not an array"),
  ])
  func badRecordsNameFileAndLine(line: String, message: String) throws {
    let directory = try temporaryDirectory()
    let path = try writeFile(
      #"{"input_ids":[1,2],"loss_mask":[0,1]}"# + "\n\n" + line + "\n", named: "bad.jsonl",
      in: directory)
    do {
      _ = try SFTDataset(files: [path], vocabularySize: 8)
      Issue.record("accepted \(line)")
    } catch ChatDataError.badRecord(let file, let number, let detail) {
      #expect(file == path && number == 3)
      #expect(detail.contains(message), "\(detail)")
      #expect(
        "\(ChatDataError.badRecord(path: file, line: number, message: detail))".hasPrefix(
          "\(path):3: "))
    }
  }

  @Test func shardsMustAgreeWithTheIndex() async throws {
    let directory = try temporaryDirectory()
    let tokenizer = try trainTinyModel()
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let input = try writeFile(
      (0..<5).map { #"{"instruction": "问题\#($0)", "input": "", "output": "回答\#($0)"}"# }
        .joined(separator: "\n"), named: "a.jsonl", in: directory)
    let output = (directory as NSString).appendingPathComponent("sft")
    _ = try await SFTDataTests.run(
      [input], renderer: renderer, tokenizer: tokenizer, output: output)
    #expect(try SFTDataset(directory: output).count == 5)
    let shard = (output as NSString).appendingPathComponent("shard-00000.jsonl")
    var lines = try String(contentsOfFile: shard, encoding: .utf8).split(separator: "\n")
    lines.removeLast()
    try (lines.joined(separator: "\n") + "\n").write(
      toFile: shard, atomically: true, encoding: .utf8)
    do {
      _ = try SFTDataset(directory: output)
      Issue.record("a shard with a missing line was accepted")
    } catch ChatDataError.badIndex(let path, let message) {
      #expect(path == shard && message.contains("holds 4 samples"), "\(message)")
    }
    // A preference folder is not an SFT folder.
    #expect(throws: ChatDataError.self) { try PreferenceDataset(directory: output) }
  }
}
