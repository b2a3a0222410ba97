import Foundation

/// One SFT sample: token ids and their loss mask (1: a token the model learns to produce).
public struct SFTSample: Sendable, Equatable {
  /// The token ids.
  public var inputIDs: [Int32]
  /// 0 or 1 per id.
  public var lossMask: [UInt8]

  /// Creates a sample.
  public init(inputIDs: [Int32], lossMask: [UInt8]) {
    self.inputIDs = inputIDs
    self.lossMask = lossMask
  }
}

/// The samples of an SFT folder made by `minillm data sft` (or of hand-made JSONL files), held
/// in memory as one flat id buffer and one flat mask buffer.
///
/// Every record is validated when loading: `input_ids` non-empty with every id below the
/// vocabulary size, `loss_mask` of the same length holding only 0 and 1, and, for a folder,
/// each shard's sample and token counts and the maximum length as `index.json` states them.
/// Errors name the file and line.
public final class SFTDataset: Sendable {
  /// The folder's index, or `nil` for a dataset read from files.
  public let index: SFTShardIndex?
  /// Every id is below this.
  public let vocabularySize: Int
  private let ids: [Int32]
  private let masks: [UInt8]
  private let offsets: [Int]

  /// Number of samples.
  public var count: Int { offsets.count - 1 }

  /// Total tokens over all samples.
  public var tokenCount: Int { ids.count }

  /// Loads and validates every shard listed in `directory/index.json`.
  /// - Throws: `ChatDataError` naming the file (and line) at fault, or `InputError`.
  public convenience init(directory: String) throws {
    let index = try SFTShardIndex.read(directory: directory)
    try self.init(
      files: index.shards.map { (directory as NSString).appendingPathComponent($0.file) },
      vocabularySize: index.tokenizer.vocabularySize, index: index)
  }

  /// Loads and validates JSONL files of `{"input_ids", "loss_mask"}` records.
  /// - Throws: `ChatDataError.badRecord` naming the file and line, or `InputError`.
  public convenience init(files: [String], vocabularySize: Int) throws {
    try self.init(files: files, vocabularySize: vocabularySize, index: nil)
  }

  private init(files: [String], vocabularySize: Int, index: SFTShardIndex?) throws {
    precondition(vocabularySize > 0, "SFTDataset: vocabularySize \(vocabularySize)")
    self.index = index
    self.vocabularySize = vocabularySize
    var ids: [Int32] = []
    var masks: [UInt8] = []
    var offsets = [0]
    let parser = ShardLineParser(keys: ["input_ids", "loss_mask"])
    for (shardIndex, path) in files.enumerated() {
      let firstSample = offsets.count - 1
      let firstToken = ids.count
      try forEachShardLine(path: path, parser: parser) { line, values in
        let (input, mask) = (values[0], values[1])
        func bad(_ message: String) -> ChatDataError {
          .badRecord(path: path, line: line, message: message)
        }
        guard !input.isEmpty else { throw bad("'input_ids' is empty") }
        guard mask.count == input.count else {
          throw bad("'loss_mask' has \(mask.count) values for \(input.count) input ids")
        }
        if let position = input.firstIndex(where: { Int($0) >= vocabularySize }) {
          throw bad(
            "'input_ids[\(position)]' = \(input[position]) is outside the vocabulary "
              + "0..<\(vocabularySize)")
        }
        if let position = mask.firstIndex(where: { $0 > 1 }) {
          throw bad("'loss_mask[\(position)]' = \(mask[position]) is not 0 or 1")
        }
        if let maxLength = index?.maxLength, input.count > maxLength {
          throw bad("\(input.count) ids, more than index.json's max_length \(maxLength)")
        }
        ids.append(contentsOf: input)
        masks.append(contentsOf: mask.lazy.map { UInt8($0) })
        offsets.append(ids.count)
      }
      if let entry = index?.shards[shardIndex] {
        let samples = offsets.count - 1 - firstSample
        let tokens = ids.count - firstToken
        guard samples == entry.samples, tokens == entry.tokens else {
          throw ChatDataError.badIndex(
            path: path,
            message: "holds \(samples) samples and \(tokens) tokens; index.json says "
              + "\(entry.samples) and \(entry.tokens)")
        }
      }
    }
    self.ids = ids
    self.masks = masks
    self.offsets = offsets
  }

  /// Sample `index`.
  public subscript(index: Int) -> SFTSample {
    precondition(index >= 0 && index < count, "SFTDataset: sample \(index) ∉ 0..<\(count)")
    let range = offsets[index]..<offsets[index + 1]
    return SFTSample(inputIDs: Array(ids[range]), lossMask: Array(masks[range]))
  }

  /// The number of tokens of sample `index` (for length-bucketed batching).
  public func length(of index: Int) -> Int {
    precondition(index >= 0 && index < count, "SFTDataset: sample \(index) ∉ 0..<\(count)")
    return offsets[index + 1] - offsets[index]
  }
}
