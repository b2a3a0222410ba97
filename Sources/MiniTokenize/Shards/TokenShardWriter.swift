/// Writes documents of tokens into numbered shards `shard-00000.bin`, … in a folder.
///
/// Each shard is written under a temporary name, its header completed and the file fsynced when
/// it is full; `commit()` then renames them all into place, so an interrupted run never leaves a
/// shard that looks complete. Documents are never split across shards.
public final class TokenShardWriter {
  /// The folder.
  public let directory: String
  /// Bytes per token.
  public let tokenWidth: Int
  /// Every id must be below this.
  public let vocabularySize: Int
  /// Written into each header.
  public let eosID: Int?
  /// A shard is closed once it holds at least this many tokens.
  public let shardTokenLimit: Int
  /// The shards closed so far.
  public private(set) var shards: [ShardEntry] = []

  private let files: ShardFileSet
  private var tokensInShard = 0
  private var documentsInShard = 0

  /// Prepares to write shards into `directory` (which must exist).
  public init(directory: String, vocabularySize: Int, eosID: Int?, shardTokenLimit: Int) {
    precondition(shardTokenLimit > 0, "TokenShardWriter: shardTokenLimit \(shardTokenLimit)")
    self.directory = directory
    self.vocabularySize = vocabularySize
    self.eosID = eosID
    self.shardTokenLimit = shardTokenLimit
    tokenWidth = TokenShardHeader.tokenWidth(forVocabularySize: vocabularySize)
    files = ShardFileSet(directory: directory, fileName: Self.fileName)
  }

  /// The shard file name for `index`.
  public static func fileName(_ index: Int) -> String {
    let digits = String(index)
    return "shard-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".bin"
  }

  /// Appends one document (its tokens, EOS included).
  public func append(document tokens: UnsafeBufferPointer<Int32>) throws {
    if !files.hasOpenShard { try openShard() }
    try files.append { buffer in
      for id in tokens {
        precondition(
          id >= 0 && Int(id) < vocabularySize,
          "TokenShardWriter: id \(id) outside 0..<\(vocabularySize)")
        if tokenWidth == 2 {
          let value = UInt16(truncatingIfNeeded: id)
          buffer.append(UInt8(truncatingIfNeeded: value))
          buffer.append(UInt8(truncatingIfNeeded: value >> 8))
        } else {
          withUnsafeBytes(of: UInt32(bitPattern: id).littleEndian) { buffer.append(contentsOf: $0) }
        }
      }
    }
    tokensInShard += tokens.count
    documentsInShard += 1
    if tokensInShard >= shardTokenLimit { try closeShard() }
  }

  /// Closes the last shard and renames every shard into place; returns the shard list.
  public func commit() throws -> [ShardEntry] {
    if files.hasOpenShard { try closeShard() }
    try files.commit()
    return shards
  }

  /// Deletes the temporary files of shards not yet committed.
  public func discard() { files.discard() }

  private func header(tokenCount: Int) -> [UInt8] {
    TokenShardHeader(
      tokenWidth: tokenWidth, tokenCount: tokenCount, vocabularySize: vocabularySize, eosID: eosID
    ).bytes
  }

  private func openShard() throws {
    try files.openShard()
    let placeholder = header(tokenCount: 0)
    try files.append { $0.append(contentsOf: placeholder) }
    tokensInShard = 0
    documentsInShard = 0
  }

  private func closeShard() throws {
    let file = try files.closeShard(header: header(tokenCount: tokensInShard))
    shards.append(ShardEntry(file: file, tokens: tokensInShard, documents: documentsInShard))
  }
}

/// One shard in `index.json`.
public struct ShardEntry: Sendable, Equatable, Codable {
  /// File name inside the data folder.
  public var file: String
  /// Tokens in the shard.
  public var tokens: Int
  /// Documents in the shard.
  public var documents: Int
}
