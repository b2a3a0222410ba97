import Foundation

/// The sentences a tokenizer is trained on: every non-empty line of every text of the inputs
/// (documents, conversation turns, prompts and replies), read one file after another.
public struct TrainingSentences {
  /// The inputs.
  public let paths: [String]
  /// Their format (`nil`: detected per file).
  public let format: CorpusFormat?
  /// The member holding the text of `jsonl`/`json` records and Parquet rows (`nil`: `text`).
  public let textColumn: String?
  var fileIndex = 0
  var reader: CorpusReader?
  var pending: [String] = []
  /// Sentences returned so far.
  public private(set) var count = 0
  /// The statistics of the files read to the end.
  public private(set) var finished: [SourceStatistics] = []

  /// The sentences of `paths`.
  public init(paths: [String], format: CorpusFormat?, textColumn: String? = nil) {
    self.paths = paths
    self.format = format
    self.textColumn = textColumn
  }

  /// The next sentence, or `nil` after the last file.
  /// - Throws: what ``CorpusReader`` throws.
  public mutating func next() throws -> String? {
    while pending.isEmpty {
      if reader == nil {
        guard fileIndex < paths.count else { return nil }
        reader = try CorpusReader(
          path: paths[fileIndex], format: format, textColumn: textColumn)
        fileIndex += 1
      }
      guard let record = try reader?.next() else {
        if let reader { finished.append(reader.statistics) }
        reader = nil
        continue
      }
      var texts: [String]
      switch record {
      case .document(let document): texts = [document.text]
      case .conversation(let conversation):
        texts = [conversation.system ?? ""] + conversation.messages.map(\.content)
      case .preference(let pair):
        texts =
          [pair.prompt.system ?? ""] + pair.prompt.messages.map(\.content) + [
            pair.chosen, pair.rejected,
          ]
      }
      pending = texts.flatMap { $0.split(separator: "\n").map(String.init) }.reversed()
    }
    count += 1
    return pending.removeLast()
  }
}
