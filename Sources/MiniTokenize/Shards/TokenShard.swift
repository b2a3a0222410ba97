import Foundation
import MiniSupport

/// A memory-mapped token shard: random access to any window of tokens without reading the file.
///
/// Reads MiniLLM shards (validated `TokenShardHeader`) and the headerless `.bin` files of
/// baby-llama2-chinese (`init(headerlessPath:tokenWidth:vocabularySize:)`). Every id read is
/// checked against the vocabulary size.
public final class TokenShard: Sendable {
  /// The file.
  public let path: String
  /// The header (synthesised for headerless files).
  public let header: TokenShardHeader
  private let file: MappedFile
  private let dataOffset: Int

  /// Number of tokens.
  public var count: Int { header.tokenCount }

  /// Maps a MiniLLM shard and validates its header.
  /// - Throws: `TokenShardError` naming the file and the bad field.
  public convenience init(path: String) throws {
    try self.init(path: path, headerless: nil)
  }

  /// Maps a headerless file of `tokenWidth`-byte little-endian ids (baby-llama2-chinese's
  /// `uint16` `.bin`).
  public convenience init(headerlessPath path: String, tokenWidth: Int, vocabularySize: Int) throws
  {
    precondition(tokenWidth == 2 || tokenWidth == 4, "TokenShard: token width \(tokenWidth)")
    try self.init(path: path, headerless: (tokenWidth, vocabularySize))
  }

  private init(path: String, headerless: (width: Int, vocabulary: Int)?) throws {
    self.path = path
    do {
      file = try MappedFile(path: path)
    } catch {
      throw TokenShardError.unreadable(path: path, message: "\(error)")
    }
    let size = file.count
    if let headerless {
      guard size % headerless.width == 0 else {
        throw TokenShardError.badHeader(
          path: path,
          message: "size \(size) is not a multiple of the token width \(headerless.width)")
      }
      header = TokenShardHeader(
        tokenWidth: headerless.width, tokenCount: size / headerless.width,
        vocabularySize: headerless.vocabulary, eosID: nil)
      dataOffset = 0
    } else {
      header = try file.withUnsafeBytes { bytes in
        try TokenShardHeader(bytes: bytes, fileSize: size, path: path)
      }
      dataOffset = TokenShardHeader.size
    }
  }

  /// Copies tokens `start..<start + buffer.count` into `buffer`.
  /// - Throws: `TokenShardError.tokenOutOfRange` when an id is not below the vocabulary size.
  public func copyWindow(at start: Int, into buffer: UnsafeMutableBufferPointer<Int32>) throws {
    precondition(
      start >= 0 && start + buffer.count <= count,
      "TokenShard.window: \(start)..<\(start + buffer.count) outside 0..<\(count)")
    guard !buffer.isEmpty else { return }
    try file.withUnsafeBytes { bytes in
      try copy(from: bytes.baseAddress! + dataOffset, start: start, into: buffer)
    }
  }

  private func copy(
    from base: UnsafeRawPointer, start: Int, into buffer: UnsafeMutableBufferPointer<Int32>
  ) throws {
    let vocabulary = header.vocabularySize
    var worst = 0
    if header.tokenWidth == 2 {
      for i in 0..<buffer.count {
        let id = Int(
          UInt16(littleEndian: base.loadUnaligned(fromByteOffset: 2 * (start + i), as: UInt16.self))
        )
        buffer[i] = Int32(truncatingIfNeeded: id)
        worst = max(worst, id)
      }
    } else {
      for i in 0..<buffer.count {
        let id = Int(
          UInt32(littleEndian: base.loadUnaligned(fromByteOffset: 4 * (start + i), as: UInt32.self))
        )
        buffer[i] = Int32(truncatingIfNeeded: id)
        worst = max(worst, id)
      }
    }
    if worst >= vocabulary {
      let offset = (0..<buffer.count).first { Int(UInt32(bitPattern: buffer[$0])) >= vocabulary }!
      throw TokenShardError.tokenOutOfRange(
        path: path, position: start + offset, id: Int(UInt32(bitPattern: buffer[offset])),
        vocabularySize: vocabulary)
    }
  }

  /// Tokens `start..<start + count` as ids.
  public func window(at start: Int, count length: Int) throws -> [Int32] {
    try [Int32](unsafeUninitializedCapacity: length) { buffer, initialized in
      try copyWindow(at: start, into: buffer)
      initialized = length
    }
  }
}
