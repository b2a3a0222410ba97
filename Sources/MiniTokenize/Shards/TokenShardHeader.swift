/// The fixed 64-byte little-endian header of a token shard:
///
/// | offset | size | field |
/// |---:|---:|---|
/// | 0 | 8 | magic `MLLMTOKS` |
/// | 8 | 4 | version (1) |
/// | 12 | 4 | token width in bytes (2 or 4) |
/// | 16 | 8 | token count |
/// | 24 | 4 | vocabulary size |
/// | 28 | 4 | EOS id (signed, -1 when none) |
/// | 32 | 32 | zero |
///
/// The tokens follow, each an unsigned little-endian integer of the token width.
public struct TokenShardHeader: Sendable, Equatable {
  /// The file's first eight bytes.
  public static let magic: [UInt8] = Array("MLLMTOKS".utf8)
  /// The version this code writes and reads.
  public static let currentVersion: UInt32 = 1
  /// Header size in bytes (tokens start here).
  public static let size = 64

  /// Bytes per token: 2 or 4.
  public var tokenWidth: Int
  /// Number of tokens after the header.
  public var tokenCount: Int
  /// Size of the vocabulary every token is below.
  public var vocabularySize: Int
  /// The id that ends each document, or `nil`.
  public var eosID: Int?

  /// Creates a header.
  public init(tokenWidth: Int, tokenCount: Int, vocabularySize: Int, eosID: Int?) {
    self.tokenWidth = tokenWidth
    self.tokenCount = tokenCount
    self.vocabularySize = vocabularySize
    self.eosID = eosID
  }

  /// The narrowest width that holds every id below `vocabularySize`.
  public static func tokenWidth(forVocabularySize vocabularySize: Int) -> Int {
    vocabularySize <= 1 << 16 ? 2 : 4
  }

  /// The 64 header bytes.
  public var bytes: [UInt8] {
    var out = Self.magic
    func put<T: FixedWidthInteger>(_ value: T) {
      withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }
    put(Self.currentVersion)
    put(UInt32(tokenWidth))
    put(UInt64(tokenCount))
    put(UInt32(vocabularySize))
    put(Int32(eosID ?? -1))
    out.append(contentsOf: repeatElement(0, count: Self.size - out.count))
    return out
  }

  /// Reads and validates a header; `fileSize` must match the token count exactly.
  /// - Throws: `TokenShardError.badHeader` naming the field.
  public init(bytes: UnsafeRawBufferPointer, fileSize: Int, path: String) throws {
    func fail(_ message: String) -> TokenShardError { .badHeader(path: path, message: message) }
    guard bytes.count >= Self.size else { throw fail("shorter than the \(Self.size)-byte header") }
    guard Array(bytes[0..<8]) == Self.magic else {
      throw fail("magic is not MLLMTOKS (a headerless .bin needs its token width given)")
    }
    func read<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
      T(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: T.self))
    }
    let version = read(UInt32.self, at: 8)
    guard version == Self.currentVersion else { throw fail("version \(version), expected 1") }
    let width = Int(read(UInt32.self, at: 12))
    guard width == 2 || width == 4 else { throw fail("token width \(width), expected 2 or 4") }
    let count = read(UInt64.self, at: 16)
    guard count <= UInt64(Int.max / 4), Self.size + Int(count) * width == fileSize else {
      throw fail("token count \(count) × \(width) bytes does not match the file size \(fileSize)")
    }
    let vocabulary = Int(read(UInt32.self, at: 24))
    guard vocabulary > 0, vocabulary <= (width == 2 ? 1 << 16 : Int(Int32.max)) else {
      throw fail("vocabulary size \(vocabulary) does not fit token width \(width)")
    }
    let eos = Int(read(Int32.self, at: 28))
    guard eos >= -1, eos < vocabulary else { throw fail("EOS id \(eos) outside the vocabulary") }
    guard bytes[32..<Self.size].allSatisfy({ $0 == 0 }) else {
      throw fail("reserved bytes not zero")
    }
    self.init(
      tokenWidth: width, tokenCount: Int(count), vocabularySize: vocabulary,
      eosID: eos >= 0 ? eos : nil)
  }
}

/// A token shard or its index is unusable.
public enum TokenShardError: Error, CustomStringConvertible, Equatable {
  /// The header is malformed.
  case badHeader(path: String, message: String)
  /// A token id is not below the vocabulary size.
  case tokenOutOfRange(path: String, position: Int, id: Int, vocabularySize: Int)
  /// The file could not be opened or mapped.
  case unreadable(path: String, message: String)
  /// `index.json` is malformed or disagrees with a shard.
  case badIndex(path: String, message: String)

  public var description: String {
    switch self {
    case .badHeader(let path, let message): "\(path): bad token shard header: \(message)"
    case .tokenOutOfRange(let path, let position, let id, let vocabularySize):
      "\(path): token \(position) is \(id), not below the vocabulary size \(vocabularySize)"
    case .unreadable(let path, let message): "\(path): \(message)"
    case .badIndex(let path, let message): "\(path): \(message)"
    }
  }
}
