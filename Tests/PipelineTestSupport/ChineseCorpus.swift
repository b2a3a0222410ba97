import Foundation
import MiniTokenize
import TestSupport
import Testing

/// A small real Chinese corpus made once per test process: the 313 poems of `tang300` from the
/// `fortunes-zh` package (colour codes stripped), a BPE tokenizer trained on them, and token
/// shards with a held-out tail. Falls back to the Chinese answers of
/// `../shared/corpora/alpaca_zh_demo.json`; `nil` (with the reason) when neither is present.
package struct ChineseCorpus: Sendable {
  /// The shard folder (with `tokenizer.model` and `index.json`).
  package let dataDirectory: String
  /// Where the text came from.
  package let source: String
  /// Vocabulary size of the tokenizer.
  package let vocabularySize: Int

  package static let vocabularySize = 2800

  package static let shared: Result<ChineseCorpus, CorpusUnavailable> = make()

  package typealias CorpusUnavailable = FixtureUnavailable

  /// What the corpus is built from: the installed `tang300` or the shared Alpaca sample.
  package static let requirement = Requirement(
    "a Chinese corpus (fortunes-zh's tang300, or ../shared/corpora/alpaca_zh_demo.json)"
  ) {
    documents() == nil ? "neither is present" : nil
  }

  /// The corpus, or `nil` after recording why the calling test cannot run.
  package static func load(for test: String = #function) -> ChineseCorpus? {
    fixture(shared, for: test)
  }

  package static func documents() -> (texts: [String], source: String)? {
    let candidates = ["/usr/share/games/fortunes/tang300", "/usr/share/games/fortunes/zh/tang300"]
    for path in candidates {
      guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { continue }
      let plain = text.replacingOccurrences(
        of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
      let poems = plain.components(separatedBy: "\n%\n").map {
        $0.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
          .filter { !$0.isEmpty }.joined(separator: "\n")
      }.filter { !$0.isEmpty }
      if poems.count > 100 { return (poems, path) }
    }
    if let path = sharedPath("corpora/alpaca_zh_demo.json"),
      let data = FileManager.default.contents(atPath: path),
      let records = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]]
    {
      let texts = records.compactMap { $0["output"] as? String }.filter { !$0.isEmpty }
      if texts.count > 100 { return (Array(texts.prefix(400)), path) }
    }
    return nil
  }

  package static func make() -> Result<ChineseCorpus, CorpusUnavailable> {
    guard let (texts, source) = documents() else {
      return .failure(
        CorpusUnavailable(
          description: "no Chinese corpus: /usr/share/games/fortunes/tang300 (package fortunes-zh, "
            + "installed by scripts/bootstrap) and ../shared/corpora/alpaca_zh_demo.json are absent"
        ))
    }
    do {
      var options = SentencePieceTrainingOptions(vocabularySize: vocabularySize)
      // Rare characters (the last 2% of occurrences) fall back to bytes.
      options.characterCoverage = 0.98
      var lines = texts.flatMap { $0.split(separator: "\n").map(String.init) }.makeIterator()
      let tokenizer = try SentencePieceTokenizer.train(options: options) { lines.next() }
      guard let eos = tokenizer.specialIDs.eos else {
        return .failure(
          CorpusUnavailable(description: "the trained tokenizer has no EOS", isFailure: true))
      }
      var documents: [[Int32]] = []
      for text in texts {
        var ids: [Int32] = []
        try tokenizer.encode(text, appendingTo: &ids)
        documents.append(ids + [Int32(eos)])
      }
      let directory = try temporaryDirectory("chinese-corpus")
      try writeDataset(
        documents, vocabulary: tokenizer.vocabularySize, eos: eos, into: directory,
        tokenizerBytes: tokenizer.modelBytes)
      return .success(
        ChineseCorpus(
          dataDirectory: directory, source: source, vocabularySize: tokenizer.vocabularySize))
    } catch {
      return .failure(
        CorpusUnavailable(description: "cannot build the corpus: \(error)", isFailure: true))
    }
  }
}
