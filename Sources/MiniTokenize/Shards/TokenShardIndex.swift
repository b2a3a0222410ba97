import Foundation

/// `index.json` of a token-shard folder: the shards, the tokenizer they were made with, and
/// what each source gave (records, documents, rejected records per reason).
public struct TokenShardIndex: Sendable, Equatable, Codable {
  /// Always `minillm-token-shards`.
  public var format = "minillm-token-shards"
  /// Index layout version.
  public var version = 1
  /// The tokenizer file copied beside the shards.
  public var tokenizer: TokenizerReference
  /// Bytes per token in every shard.
  public var tokenWidth: Int
  /// Documents with fewer tokens than this (EOS included) were dropped.
  public var minimumDocumentTokens: Int
  /// The shards, in order.
  public var shards: [ShardEntry]
  /// Sum of the shards' tokens.
  public var totalTokens: Int
  /// Sum of the shards' documents.
  public var totalDocuments: Int
  /// Each input file's counts.
  public var sources: [SourceEntry]

  enum CodingKeys: String, CodingKey {
    case format, version, tokenizer, shards, sources
    case tokenWidth = "token_width"
    case minimumDocumentTokens = "minimum_document_tokens"
    case totalTokens = "total_tokens"
    case totalDocuments = "total_documents"
  }

  /// The tokenizer a shard folder was made with.
  public struct TokenizerReference: Sendable, Equatable, Codable {
    /// File name inside the folder (`tokenizer.model`).
    public var file: String
    /// SHA-256 of that file.
    public var sha256: String
    /// Vocabulary size.
    public var vocabularySize: Int
    /// The EOS id appended after every document.
    public var eosId: Int?

    enum CodingKeys: String, CodingKey {
      case file, sha256
      case vocabularySize = "vocab_size"
      case eosId = "eos_id"
    }
  }

  /// One input file's counts.
  public struct SourceEntry: Sendable, Equatable, Codable {
    /// The path as given.
    public var path: String
    /// The format it was read as.
    public var format: CorpusFormat
    /// Records read (accepted + rejected).
    public var records: Int
    /// Records rejected, per reason.
    public var rejected: [RejectReason: Int]
    /// The first few rejected records, with line and detail.
    public var firstRejections: [RejectedRecord]
    /// Documents dropped for having fewer than `minimumDocumentTokens` tokens.
    public var tooShort: Int
    /// Documents written.
    public var documents: Int
    /// Tokens written (EOS included).
    public var tokens: Int

    enum CodingKeys: String, CodingKey {
      case path, format, records, rejected, documents, tokens
      case tooShort = "too_short"
      case firstRejections = "first_rejections"
    }
  }

  /// Sum of rejected records per reason over all sources.
  public var rejectedTotals: [RejectReason: Int] {
    sources.reduce(into: [:]) { totals, source in
      for (reason, count) in source.rejected { totals[reason, default: 0] += count }
    }
  }

  /// The index as pretty, key-sorted JSON (byte-identical for equal indexes).
  public func encoded() throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return Array(try encoder.encode(self)) + [0x0A]
  }

  /// Reads `index.json` from a shard folder.
  /// - Throws: `TokenShardError.badIndex` naming the file.
  public static func read(directory: String) throws -> TokenShardIndex {
    let path = (directory as NSString).appendingPathComponent("index.json")
    guard let data = FileManager.default.contents(atPath: path) else {
      throw TokenShardError.unreadable(path: path, message: "no index.json")
    }
    let decoder = JSONDecoder()
    do {
      let index = try decoder.decode(TokenShardIndex.self, from: data)
      guard index.format == "minillm-token-shards", index.version == 1 else {
        throw TokenShardError.badIndex(
          path: path, message: "format \(index.format) version \(index.version) is not supported")
      }
      return index
    } catch let error as TokenShardError {
      throw error
    } catch {
      throw TokenShardError.badIndex(path: path, message: "\(error)")
    }
  }
}
