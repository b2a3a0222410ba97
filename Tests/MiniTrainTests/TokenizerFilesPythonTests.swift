import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// The model directories MiniLLM writes, read by `transformers`: `AutoTokenizer.from_pretrained`
/// on a pretraining run's `RUN/model`, an SFT run's `RUN/model` and a chat model directory (the
/// files sft, dpo and reward write) gives our ids on more than 100 KB of mixed text, with and
/// without special tokens, whole and line by line, and decodes them to the same text.
@Suite("Tokenizer files read by transformers", .serialized)
struct TokenizerFilesPythonTests {
  /// A tokenizer kind: how it is trained (or the shared ChatGLM2 model).
  enum Kind: String, CaseIterable, Sendable {
    /// BPE, byte fallback, no dummy prefix, the ChatML tokens as user-defined pieces (the
    /// trainer's defaults).
    case bpe
    /// BPE with the dummy prefix and no user-defined pieces.
    case bpeDummyPrefix = "bpe-dummy-prefix"
    /// Unigram, byte fallback, the ChatML tokens as user-defined pieces.
    case unigram
    /// baby-llama2-chinese's ChatGLM2 model from `../shared/fixtures/chatglm2-tokenizer`.
    case chatglm2
  }

  static let script = #"""
    import json, sys
    from transformers import AutoTokenizer
    text_path, out = sys.argv[1], sys.argv[2]
    text = open(text_path, encoding="utf-8", newline="").read()
    result = {}
    for directory in sys.argv[3:]:
        tok = AutoTokenizer.from_pretrained(directory)
        plain = tok.encode(text, add_special_tokens=False)
        result[directory] = {
            "class": type(tok).__name__,
            "plain": plain,
            "special": tok.encode(text, add_special_tokens=True),
            "lines": [tok.encode(line, add_special_tokens=False) for line in text.split("\n")[:400]],
            "decoded": tok.decode(plain, skip_special_tokens=False),
            "bos": tok.bos_token, "eos": tok.eos_token,
            "chat_template": tok.chat_template is not None,
        }
    json.dump(result, open(out, "w", encoding="utf-8"), ensure_ascii=False)
    """#

  static func tokenizer(_ kind: Kind) throws -> SentencePieceTokenizer {
    if kind == .chatglm2 {
      return try SentencePieceTokenizer(
        contentsOf: try requireShared("fixtures/chatglm2-tokenizer/tokenizer.model"))
    }
    var options = SentencePieceTrainingOptions(
      vocabularySize: kind == .unigram ? 480 : 1000, modelType: kind == .unigram ? .unigram : .bpe)
    if kind == .bpeDummyPrefix {
      options.addDummyPrefix = true
    } else {
      options.userDefinedSymbols = ["<|im_start|>", "<|im_end|>"]
    }
    var lines = MixedText.make(minimumBytes: 60_000, seed: 3).unicodeScalars
      .split(separator: "\n").map { String($0) }[...]
    return try SentencePieceTokenizer.train(options: options) { lines.popFirst() }
  }

  /// A pretraining run's `RUN/model` (one step on token shards made with `tokenizer`).
  static func pretrainedModel(_ tokenizer: SentencePieceTokenizer, in folder: String) throws
    -> String
  {
    let vocabulary = tokenizer.vocabularySize
    let eos = tokenizer.specialIDs.eos ?? 0
    try writeDataset(
      patternDocuments(count: 40, vocabulary: vocabulary), vocabulary: vocabulary, eos: eos,
      into: folder + "/data", tokenizerBytes: tokenizer.modelBytes)
    let configPath = folder + "/model.json"
    try JSONEncoder().encode(tinyConfig(vocabulary: vocabulary, maxPositions: 16))
      .write(to: URL(fileURLWithPath: configPath))
    var options = TrainingOptions()
    options.steps = 1
    options.batchSize = 2
    options.microBatchSize = 1
    options.evalBatches = 1
    options.evalFraction = 0.2
    let run = TrainingRun(directory: folder + "/pretrain-run", label: "pretrain")
    try run.run(PretrainStage(data: folder + "/data", config: configPath, options: options))
    return folder + "/pretrain-run/model"
  }

  /// An SFT run's `RUN/model`: SFT shards made with `tokenizer` and ChatML, one step.
  static func sftModel(_ tokenizer: SentencePieceTokenizer, in folder: String) async throws
    -> String
  {
    let model = try makeChatModelDirectory(tokenizer: tokenizer, maxPositions: 64)
    let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
    let words = chatTrainingLines(count: 40)
    var lines = ""
    for index in stride(from: 0, to: 38, by: 2) {
      let record = ["instruction": words[index], "input": "", "output": words[index + 1]]
      lines += String(decoding: try JSONSerialization.data(withJSONObject: record), as: UTF8.self)
      lines += "\n"
    }
    try Data(lines.utf8).write(to: URL(fileURLWithPath: folder + "/sft.jsonl"))
    var sftOptions = SFTOptions()
    sftOptions.maxLength = 64
    _ = try await SFTPipeline.run(
      inputs: [folder + "/sft.jsonl"], renderer: renderer,
      tokenizerFile: ("tokenizer.model", tokenizer.modelBytes), output: folder + "/sft",
      options: sftOptions)
    var options = TrainingOptions()
    options.steps = 1
    options.batchSize = 2
    options.microBatchSize = 1
    options.evalBatches = 1
    options.evalFraction = 0.2
    try TrainingRun(directory: folder + "/sft-run", label: "sft").run(
      SFTStage(FineTuneInputs(model: model, data: folder + "/sft", options: options)))
    return folder + "/sft-run/model"
  }

  @Test(
    "AutoTokenizer gives our ids on the directories we write",
    .requires(.python("transformers", "tokenizers")), arguments: Kind.allCases)
  func autoTokenizerMatches(kind: Kind) async throws {
    if kind == .chatglm2, sharedPath("fixtures/chatglm2-tokenizer") == nil, !Requirement.isCI {
      print("skipped: ../shared/fixtures/chatglm2-tokenizer is absent")
      return
    }
    let python = try PythonRunner.requirePeers(importing: ["transformers", "tokenizers"])
    let folder = try temporaryDirectory("tokenizer-files-\(kind.rawValue)")
    let tokenizer = try Self.tokenizer(kind)
    var directories = [try Self.pretrainedModel(tokenizer, in: folder)]
    // The chat files sft, dpo and reward write (ChatML where the tokenizer has its tokens).
    let hasChatML = tokenizer.id(for: "<|im_start|>") != nil
    directories.append(
      try makeChatModelDirectory(tokenizer: tokenizer, template: hasChatML ? .chatml : .humanRobot))
    if kind == .bpe {
      directories.append(try await Self.sftModel(tokenizer, in: folder))
      // The SFT data folder carries the same files.
      directories.append(folder + "/sft")
    }

    let text = MixedText.make(minimumBytes: 110_000, seed: 17)
    #expect(text.utf8.count >= 100_000)
    let textPath = folder + "/text.txt"
    try Data(text.utf8).write(to: URL(fileURLWithPath: textPath))
    let scriptPath = folder + "/read.py"
    try Data(Self.script.utf8).write(to: URL(fileURLWithPath: scriptPath))
    let expectedPath = folder + "/expected.json"
    let result = python.run([scriptPath, textPath, expectedPath] + directories)
    if case .failure(let failure) = result { Issue.record("python: \(failure.reason)") }
    try #require((try? result.get()) != nil)
    let data = try Data(contentsOf: URL(fileURLWithPath: expectedPath))
    let expected = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let textLines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
      .prefix(400).map { String($0) }

    for directory in directories {
      let name = "\(kind.rawValue) \(directory.dropFirst(folder.count))"
      #expect(FileManager.default.fileExists(atPath: directory + "/tokenizer.json"), "\(name)")
      let theirs = try #require(expected[directory] as? [String: Any])
      #expect(theirs["class"] as? String == "TokenizersBackend", "\(name)")
      // Reading the directory still prefers tokenizer.model.
      let ours = try PretrainedTokenizer(directory: directory)
      #expect(ours.tokenizer is SentencePieceTokenizer, "\(name)")
      let plain = try ours.tokenizer.encode(text)
      let expectedPlain = try #require(theirs["plain"] as? [Int])
      // Every kind gives the same ids: unigram models encode with the same Viterbi search and
      // tie-breaking as tokenizers (see NativeUnigramEncoder).
      if plain != expectedPlain,
        let first = zip(plain, expectedPlain).enumerated().first(where: {
          $0.element.0 != $0.element.1
        })
      {
        let range =
          max(0, first.offset - 4)..<min(plain.count, expectedPlain.count, first.offset + 4)
        Issue.record(
          "\(name): first difference at token \(first.offset): ours \(range.map { tokenizer.piece(for: plain[$0]) ?? "?" }), transformers' \(range.map { tokenizer.piece(for: expectedPlain[$0]) ?? "?" })"
        )
      }
      var special = ours.addsBOS ? [ours.tokenizer.specialIDs.bos].compactMap { $0 } : []
      special += plain
      if ours.addsEOS, let eos = ours.tokenizer.specialIDs.eos { special.append(eos) }
      let expectedSpecial = try #require(theirs["special"] as? [Int])
      #expect(special == expectedSpecial, "\(name): with special tokens")
      let lines = try #require(theirs["lines"] as? [[Int]])
      #expect(lines.count == textLines.count)
      var differing: [String] = []
      for (line, want) in zip(textLines, lines) where try ours.tokenizer.encode(line) != want {
        differing.append(line)
      }
      #expect(differing.isEmpty, "\(name): lines \(differing.prefix(3))")
      if kind == .unigram, let sentencepiece = ours.tokenizer as? SentencePieceTokenizer {
        #expect(sentencepiece.usesNativeUnigramEncoder, "\(name)")
      }
      let decoded = try ours.tokenizer.decode(plain)
      #expect(decoded == theirs["decoded"] as? String, "\(name): decoding")
      #expect(decoded == text, "\(name): decoding gives the text back")
      #expect(theirs["bos"] as? String == ours.bosToken, "\(name)")
      #expect(theirs["eos"] as? String == ours.eosToken, "\(name)")
      #expect(theirs["chat_template"] as? Bool == (ours.chatTemplate != nil), "\(name)")
    }
    #expect(
      (expected[directories[0]] as? [String: Any])?["chat_template"] as? Bool == false,
      "a pretrained model has no chat template")
  }
}
