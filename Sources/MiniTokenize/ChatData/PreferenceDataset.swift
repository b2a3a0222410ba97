import Foundation

/// The pairs of a preference folder made by `minillm data dpo` (or of hand-made JSONL files),
/// held in memory as one flat id buffer.
///
/// Every record is validated when loading: `prompt_ids`, `chosen_ids` and `rejected_ids` all
/// non-empty with every id below the vocabulary size, and, for a folder, the prompt plus the
/// longer reply within `index.json`'s `max_length` and each shard's pair and token counts as
/// the index states them. Errors name the file and line.
public final class PreferenceDataset: Sendable {
  /// The folder's index, or `nil` for a dataset read from files.
  public let index: PreferenceShardIndex?
  /// Every id is below this.
  public let vocabularySize: Int
  private let ids: [Int32]
  /// Per pair: start of the prompt, chosen and rejected ids in `ids`, then the end.
  private let bounds: [(prompt: Int, chosen: Int, rejected: Int, end: Int)]

  /// Number of pairs.
  public var count: Int { bounds.count }

  /// Loads and validates every shard listed in `directory/index.json`.
  /// - Throws: `ChatDataError` naming the file (and line) at fault, or `InputError`.
  public convenience init(directory: String) throws {
    let index = try PreferenceShardIndex.read(directory: directory)
    try self.init(
      files: index.shards.map { (directory as NSString).appendingPathComponent($0.file) },
      vocabularySize: index.tokenizer.vocabularySize, index: index)
  }

  /// Loads and validates JSONL files of `{"prompt_ids", "chosen_ids", "rejected_ids"}` records.
  /// - Throws: `ChatDataError.badRecord` naming the file and line, or `InputError`.
  public convenience init(files: [String], vocabularySize: Int) throws {
    try self.init(files: files, vocabularySize: vocabularySize, index: nil)
  }

  private init(files: [String], vocabularySize: Int, index: PreferenceShardIndex?) throws {
    precondition(vocabularySize > 0, "PreferenceDataset: vocabularySize \(vocabularySize)")
    self.index = index
    self.vocabularySize = vocabularySize
    var ids: [Int32] = []
    var bounds: [(prompt: Int, chosen: Int, rejected: Int, end: Int)] = []
    let keys = ["prompt_ids", "chosen_ids", "rejected_ids"]
    let parser = ShardLineParser(keys: keys)
    for (shardIndex, path) in files.enumerated() {
      let firstPair = bounds.count
      let firstToken = ids.count
      try forEachShardLine(path: path, parser: parser) { line, values in
        func bad(_ message: String) -> ChatDataError {
          .badRecord(path: path, line: line, message: message)
        }
        for (key, array) in zip(keys, values) {
          guard !array.isEmpty else { throw bad("'\(key)' is empty") }
          if let position = array.firstIndex(where: { Int($0) >= vocabularySize }) {
            throw bad(
              "'\(key)[\(position)]' = \(array[position]) is outside the vocabulary "
                + "0..<\(vocabularySize)")
          }
        }
        let longest = values[0].count + max(values[1].count, values[2].count)
        if let maxLength = index?.maxLength, longest > maxLength {
          throw bad(
            "prompt and reply take \(longest) ids, more than index.json's max_length \(maxLength)")
        }
        let start = ids.count
        ids.append(contentsOf: values[0])
        let chosen = ids.count
        ids.append(contentsOf: values[1])
        let rejected = ids.count
        ids.append(contentsOf: values[2])
        bounds.append((start, chosen, rejected, ids.count))
      }
      if let entry = index?.shards[shardIndex] {
        let pairs = bounds.count - firstPair
        let tokens = ids.count - firstToken
        guard pairs == entry.samples, tokens == entry.tokens else {
          throw ChatDataError.badIndex(
            path: path,
            message: "holds \(pairs) pairs and \(tokens) tokens; index.json says "
              + "\(entry.samples) and \(entry.tokens)")
        }
      }
    }
    self.ids = ids
    self.bounds = bounds
  }

  /// Pair `index`.
  public subscript(index: Int) -> PreferenceSample {
    precondition(
      index >= 0 && index < count, "PreferenceDataset: pair \(index) ∉ 0..<\(count)")
    let pair = bounds[index]
    return PreferenceSample(
      promptIDs: Array(ids[pair.prompt..<pair.chosen]),
      chosenIDs: Array(ids[pair.chosen..<pair.rejected]),
      rejectedIDs: Array(ids[pair.rejected..<pair.end]))
  }
}
