import Foundation
import MiniTensor

/// Writes documents of tokens into numbered shards `shard-00000.bin`, … in a folder.
///
/// Each shard is written under `<name>.tmp`, its header completed and the file fsynced when it
/// is full; `commit()` then renames them all into place, so an interrupted run never leaves a
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

  private var file: OutputFile?
  private var tokensInShard = 0
  private var documentsInShard = 0
  private var buffer: [UInt8] = []
  private var temporaries: [String] = []

  /// Prepares to write shards into `directory` (which must exist).
  public init(directory: String, vocabularySize: Int, eosID: Int?, shardTokenLimit: Int) {
    precondition(shardTokenLimit > 0, "TokenShardWriter: shardTokenLimit \(shardTokenLimit)")
    self.directory = directory
    self.vocabularySize = vocabularySize
    self.eosID = eosID
    self.shardTokenLimit = shardTokenLimit
    tokenWidth = TokenShardHeader.tokenWidth(forVocabularySize: vocabularySize)
    buffer.reserveCapacity(1 << 20)
  }

  deinit { discard() }

  /// The shard file name for `index`.
  public static func fileName(_ index: Int) -> String {
    let digits = String(index)
    return "shard-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".bin"
  }

  /// Appends one document (its tokens, EOS included).
  public func append(document tokens: UnsafeBufferPointer<Int32>) throws {
    if file == nil { try openShard() }
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
    tokensInShard += tokens.count
    documentsInShard += 1
    if buffer.count >= 1 << 20 { try flush() }
    if tokensInShard >= shardTokenLimit { try closeShard() }
  }

  /// Closes the last shard and renames every shard into place; returns the shard list.
  public func commit() throws -> [ShardEntry] {
    if file != nil { try closeShard() }
    for (index, temporary) in temporaries.enumerated() {
      let target = (directory as NSString).appendingPathComponent(Self.fileName(index))
      guard rename(temporary, target) == 0 else {
        throw SystemCallError("rename from \(temporary)", path: target)
      }
    }
    temporaries.removeAll()
    try OutputFile.syncDirectory(directory)
    return shards
  }

  /// Deletes the temporary files of shards not yet committed.
  public func discard() {
    file = nil
    for temporary in temporaries { unlink(temporary) }
    temporaries.removeAll()
  }

  private func openShard() throws {
    let name = Self.fileName(shards.count) + ".tmp"
    let path = (directory as NSString).appendingPathComponent(name)
    let output = try OutputFile(creating: path)
    temporaries.append(path)
    file = output
    let header = TokenShardHeader(
      tokenWidth: tokenWidth, tokenCount: 0, vocabularySize: vocabularySize, eosID: eosID)
    try header.bytes.withUnsafeBytes { try output.write($0) }
    tokensInShard = 0
    documentsInShard = 0
  }

  private func flush() throws {
    guard let file, !buffer.isEmpty else { return }
    try buffer.withUnsafeBytes { try file.write($0) }
    buffer.removeAll(keepingCapacity: true)
  }

  private func closeShard() throws {
    try flush()
    guard let file else { return }
    let header = TokenShardHeader(
      tokenWidth: tokenWidth, tokenCount: tokensInShard, vocabularySize: vocabularySize,
      eosID: eosID)
    try header.bytes.withUnsafeBytes { try file.write($0, at: 0) }
    try file.sync()
    try file.close()
    self.file = nil
    shards.append(
      ShardEntry(
        file: Self.fileName(shards.count), tokens: tokensInShard, documents: documentsInShard))
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
