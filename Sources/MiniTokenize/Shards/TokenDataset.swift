import Foundation

/// All shards of a folder made by `minillm data pretrain`, as one long token sequence.
///
/// Opening checks every shard's header against `index.json` (token width, vocabulary, counts).
public final class TokenDataset: Sendable {
  /// The index.
  public let index: TokenShardIndex
  /// The mapped shards, in order.
  public let shards: [TokenShard]
  /// Offset of each shard's first token in the whole sequence, plus the total at the end.
  private let starts: [Int]

  /// Total tokens.
  public var count: Int { starts.last ?? 0 }

  /// Opens the shard folder `directory`.
  /// - Throws: `TokenShardError` when the index or a shard is unreadable or they disagree.
  public init(directory: String) throws {
    index = try TokenShardIndex.read(directory: directory)
    var shards: [TokenShard] = []
    var starts = [0]
    for entry in index.shards {
      let path = (directory as NSString).appendingPathComponent(entry.file)
      let shard = try TokenShard(path: path)
      guard shard.count == entry.tokens, shard.header.tokenWidth == index.tokenWidth,
        shard.header.vocabularySize == index.tokenizer.vocabularySize
      else {
        throw TokenShardError.badIndex(
          path: path,
          message: "header (\(shard.count) tokens, width \(shard.header.tokenWidth), vocabulary "
            + "\(shard.header.vocabularySize)) disagrees with index.json")
      }
      shards.append(shard)
      starts.append(starts.last! + shard.count)
    }
    self.shards = shards
    self.starts = starts
  }

  /// Tokens `start..<start + length` of the whole sequence (a window may span shards).
  public func window(at start: Int, count length: Int) throws -> [Int32] {
    precondition(
      start >= 0 && length >= 0 && start + length <= count,
      "TokenDataset.window: \(start)..<\(start + length) outside 0..<\(count)")
    return try [Int32](unsafeUninitializedCapacity: length) { buffer, initialized in
      var shardIndex = max(0, (starts.lastIndex { $0 <= start } ?? 0))
      var position = start
      var filled = 0
      while filled < length {
        while starts[shardIndex + 1] <= position { shardIndex += 1 }
        let offset = position - starts[shardIndex]
        let take = min(length - filled, shards[shardIndex].count - offset)
        try shards[shardIndex].copyWindow(
          at: offset, into: UnsafeMutableBufferPointer(rebasing: buffer[filled..<filled + take]))
        filled += take
        position += take
      }
      initialized = length
    }
  }
}
