/// A text ↔ token-id mapping. `SentencePieceTokenizer` is the one MiniLLM ships; other tokenizers
/// conform to the same protocol so corpus tools and models do not care which one they get.
///
/// Conforming types must be safe to use from several threads at once: `data pretrain` encodes
/// documents on every core with one shared tokenizer.
public protocol Tokenizer: Sendable {
  /// Number of ids; every id the tokenizer produces is in `0..<vocabularySize`.
  var vocabularySize: Int { get }
  /// The ids with a special role; `nil` where the tokenizer has none.
  var specialIDs: SpecialTokenIDs { get }
  /// Appends the ids of `text` (no BOS or EOS added) to `ids`.
  /// - Throws: `TokenizerError` when the underlying library reports a failure.
  func encode(_ text: String, appendingTo ids: inout [Int32]) throws
  /// The text of `ids`.
  /// - Throws: `TokenizerError.idOutOfRange` for an id outside the vocabulary.
  func decode(_ ids: [Int]) throws -> String
  /// The piece (surface string) of `id`, or `nil` when `id` is outside the vocabulary.
  func piece(for id: Int) -> String?
  /// The id of an exact piece, or `nil` when the vocabulary has no such piece.
  func id(for piece: String) -> Int?
}

extension Tokenizer {
  /// The ids of `text` (no BOS or EOS added).
  public func encode(_ text: String) throws -> [Int] {
    var ids: [Int32] = []
    try encode(text, appendingTo: &ids)
    return ids.map(Int.init)
  }
}

/// The ids a tokenizer reserves for special roles.
public struct SpecialTokenIDs: Sendable, Equatable, Codable {
  /// Unknown piece.
  public var unknown: Int?
  /// Beginning of sequence.
  public var bos: Int?
  /// End of sequence (appended after every document in token shards).
  public var eos: Int?
  /// Padding.
  public var pad: Int?

  /// Creates a set of special ids.
  public init(unknown: Int? = nil, bos: Int? = nil, eos: Int? = nil, pad: Int? = nil) {
    self.unknown = unknown
    self.bos = bos
    self.eos = eos
    self.pad = pad
  }
}

/// A failure reported by a tokenizer.
public enum TokenizerError: Error, CustomStringConvertible, Equatable {
  /// The model file could not be loaded.
  case loadFailed(path: String, message: String)
  /// Training stopped with an error.
  case trainingFailed(message: String)
  /// An id is outside `0..<vocabularySize`.
  case idOutOfRange(id: Int, vocabularySize: Int)
  /// The underlying library returned a failure status.
  case libraryFailure(operation: String, status: Int32)

  public var description: String {
    switch self {
    case .loadFailed(let path, let message):
      return "\(path): cannot load the tokenizer model: \(message)"
    case .trainingFailed(let message):
      return "tokenizer training failed: \(message)"
    case .idOutOfRange(let id, let vocabularySize):
      return "token id \(id) is outside the vocabulary 0..<\(vocabularySize)"
    case .libraryFailure(let operation, let status):
      return "sentencepiece \(operation) failed with status \(status)"
    }
  }
}
