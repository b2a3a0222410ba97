import Foundation
import MiniTokenize
import TestSupport
import Testing

/// The 300 Chinese preference pairs of `../shared/corpora/dpo_zh_demo.json` (ShareGPT
/// preference format) made ready once per test process: a byte-fallback BPE tokenizer with the
/// ChatML specials trained on their text, the pairs rendered into preference shards by
/// `PreferencePipeline`, and the same records as SFT conversations (the chosen reply as the
/// last assistant turn) for building pairs from a model's own answers.
package struct PreferenceCorpus: Sendable {
  /// The shard folder of the pairs.
  package let dataDirectory: String
  /// A ShareGPT file of the prompts with their chosen replies.
  package let conversationsFile: String
  /// The tokenizer (also in `dataDirectory`).
  package let tokenizer: SentencePieceTokenizer
  /// ChatML over `tokenizer`.
  package let renderer: ChatRenderer
  /// Prompt plus longer reply never exceed this many tokens.
  package static let maxLength = 384

  package static let shared = Task { await make() }

  /// The corpus, or `nil` after recording why the calling test cannot run.
  package static func load(for test: String = #function) async -> PreferenceCorpus? {
    fixture(await shared.value, for: test)
  }

  package static func make() async -> Result<PreferenceCorpus, ChineseCorpus.CorpusUnavailable> {
    guard let path = sharedPath("corpora/dpo_zh_demo.json") else {
      return .failure(.init(description: "../shared/corpora/dpo_zh_demo.json is absent"))
    }
    func failure(_ message: String) -> Result<PreferenceCorpus, ChineseCorpus.CorpusUnavailable> {
      .failure(.init(description: "\(path): \(message)", isFailure: true))
    }
    guard let data = FileManager.default.contents(atPath: path),
      let records = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
    else { return failure("not a JSON array") }
    var texts: [String] = []
    var conversations: [(turns: [[String: Any]], chosen: String)] = []
    for record in records {
      guard let turns = record["conversations"] as? [[String: Any]],
        let chosen = (record["chosen"] as? [String: Any])?["value"] as? String,
        let rejected = (record["rejected"] as? [String: Any])?["value"] as? String
      else { return failure("a record lacks conversations, chosen or rejected") }
      texts += turns.compactMap { $0["value"] as? String } + [chosen, rejected]
      conversations.append((turns, chosen))
    }
    do {
      var options = SentencePieceTrainingOptions(vocabularySize: 2400)
      options.userDefinedSymbols = ["<|im_start|>", "<|im_end|>"]
      options.characterCoverage = 0.98
      var lines = texts.flatMap { $0.split(separator: "\n").map(String.init) }.makeIterator()
      let tokenizer = try SentencePieceTokenizer.train(options: options) { lines.next() }
      let renderer = try ChatRenderer(template: .chatml, tokenizer: tokenizer)
      let directory = try temporaryDirectory("dpo-corpus")
      let conversationsFile = directory + "/conversations.json"
      // Only the records whose prompt and chosen reply fit (generating for the others would
      // be wasted).
      var fitting: [[String: Any]] = []
      for (turns, chosen) in conversations {
        var system: String?
        var messages: [Message] = []
        for turn in turns {
          let (from, value) = (turn["from"] as? String, turn["value"] as? String ?? "")
          if from == "system" {
            system = value
          } else {
            messages.append(Message(role: from == "human" ? .user : .assistant, content: value))
          }
        }
        let prompt = try renderer.renderPrompt(
          for: Conversation(system: system, messages: messages))
        guard prompt.count + (try renderer.renderReply(chosen)).count <= maxLength else {
          continue
        }
        fitting.append(["conversations": turns + [["from": "gpt", "value": chosen]]])
      }
      try JSONSerialization.data(withJSONObject: fitting).write(
        to: URL(fileURLWithPath: conversationsFile))
      var pipelineOptions = PreferenceOptions()
      pipelineOptions.maxLength = maxLength
      let output = directory + "/pairs"
      let index = try await PreferencePipeline.run(
        inputs: [path], renderer: renderer,
        tokenizerFile: ("tokenizer.model", tokenizer.modelBytes), output: output,
        options: pipelineOptions)
      print(
        "preference corpus: \(index.kept) of \(records.count) pairs within \(maxLength) tokens, "
          + "vocabulary \(tokenizer.vocabularySize)")
      return .success(
        PreferenceCorpus(
          dataDirectory: output, conversationsFile: conversationsFile, tokenizer: tokenizer,
          renderer: renderer))
    } catch {
      return failure("cannot build the corpus: \(error)")
    }
  }
}
