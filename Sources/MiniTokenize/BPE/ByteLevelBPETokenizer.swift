import Foundation

/// A byte-level BPE tokenizer (GPT-2, Llama 3, Qwen2, StarCoder, SmolLM), read from a Hugging
/// Face `tokenizer.json` or built from GGUF metadata; encoding gives the ids `tokenizers` gives.
///
/// Text is cut at the added tokens first (the leftmost, then longest, match, so special tokens
/// written in the text become their ids), then each stretch between them is normalised,
/// split into pieces by the pre-tokenizer (the GPT-2, Llama 3, Qwen2 and StarCoder patterns
/// are scanned by hand, with no regex engine), and each piece's bytes are merged by rank. Pieces
/// of up to 16 bytes are cached. `encode` adds no BOS or EOS, as `encode(text,
/// add_special_tokens=False)` does.
public struct ByteLevelBPETokenizer: Tokenizer {
  /// A token kept whole wherever it appears in the text.
  public struct AddedToken: Sendable, Equatable {
    /// The token's id.
    public var id: Int
    /// Its text.
    public var content: String
    /// Whether it is a special token (a control token, skipped by `decode(_:skippingSpecial:)`).
    public var special: Bool

    /// Creates an added token.
    public init(id: Int, content: String, special: Bool) {
      self.id = id
      self.content = content
      self.special = special
    }
  }

  /// The text normalisation applied before splitting.
  enum Normalization: Sendable, Equatable {
    case nfc, nfd, nfkc, nfkd
  }

  let model: BPEModel
  let preTokenizer: PreTokenizer
  let normalizations: [Normalization]
  /// Each id's token string (in the byte-level alphabet), `nil` for unused ids.
  let tokens: [String?]
  /// Ids by token string, added tokens included.
  let ids: [String: Int]
  /// The bytes each id decodes to.
  let decodedBytes: [[UInt8]]
  /// Added tokens by their first byte, longest first.
  let addedByFirstByte: [[(bytes: [UInt8], id: Int32)]]

  /// The tokens kept whole in text, by id.
  public let addedTokens: [AddedToken]
  /// Number of ids: one more than the largest id of the vocabulary and the added tokens.
  public var vocabularySize: Int { tokens.count }
  /// Unknown, BOS, EOS and pad ids: the model's unknown token, and what the loader was told
  /// (`tokenizer_config.json`, GGUF metadata).
  public var specialIDs: SpecialTokenIDs

  /// Builds the tokenizer from its parts; `origin` names the source in errors.
  init(
    vocabulary: [String: Int], merges: [(String, String)], addedTokens: [AddedToken],
    preTokenizer: PreTokenizer, normalizations: [Normalization], ignoreMerges: Bool,
    unknownToken: String?, origin: String
  ) throws {
    func failure(_ message: String) -> TokenizerError {
      TokenizerError.loadFailed(path: origin, message: message)
    }
    var size = 0
    for (_, id) in vocabulary { size = max(size, id + 1) }
    for token in addedTokens { size = max(size, token.id + 1) }
    guard size <= Self.maximumVocabularySize else {
      throw failure("an id of \(size - 1) is beyond \(Self.maximumVocabularySize - 1)")
    }
    var tokens = [String?](repeating: nil, count: size)
    var byBytes: [[UInt8]: Int32] = [:]
    byBytes.reserveCapacity(vocabulary.count)
    for (token, id) in vocabulary {
      guard id >= 0 else { throw failure("$.model.vocab: '\(token)' has the negative id \(id)") }
      if let earlier = tokens[id] {
        throw failure("$.model.vocab: '\(earlier)' and '\(token)' have the same id \(id)")
      }
      tokens[id] = token
      if let bytes = ByteLevel.decoded(token) { byBytes[bytes] = Int32(id) }
    }
    var rankedMerges: [UInt64: UInt64] = [:]
    rankedMerges.reserveCapacity(merges.count)
    for (rank, (left, right)) in merges.enumerated() {
      guard let leftID = vocabulary[left], let rightID = vocabulary[right],
        let mergedID = vocabulary[left + right]
      else {
        let missing =
          vocabulary[left] == nil ? left : vocabulary[right] == nil ? right : left + right
        throw failure("$.model.merges[\(rank)]: '\(missing)' is not in the vocabulary")
      }
      let key = UInt64(leftID) << 32 | UInt64(rightID)
      if rankedMerges[key] == nil { rankedMerges[key] = UInt64(rank) << 32 | UInt64(mergedID) }
    }
    var unknownID: Int32?
    if let unknownToken {
      guard let id = vocabulary[unknownToken] else {
        throw failure("$.model.unk_token '\(unknownToken)' is not in the vocabulary")
      }
      unknownID = Int32(id)
    }
    var ids = vocabulary
    var byFirstByte = [[(bytes: [UInt8], id: Int32)]](repeating: [], count: 256)
    for token in addedTokens {
      guard token.id >= 0 else {
        throw failure("$.added_tokens: '\(token.content)' has the negative id \(token.id)")
      }
      guard !token.content.isEmpty else {
        throw failure("$.added_tokens: the token of id \(token.id) is empty")
      }
      if let existing = tokens[token.id], existing != token.content {
        throw failure(
          "$.added_tokens: '\(token.content)' has id \(token.id), which the vocabulary gives to '\(existing)'"
        )
      }
      tokens[token.id] = token.content
      ids[token.content] = token.id
      let bytes = Array(token.content.utf8)
      byFirstByte[Int(bytes[0])].append((bytes, Int32(token.id)))
    }
    for index in byFirstByte.indices {
      byFirstByte[index].sort { $0.bytes.count > $1.bytes.count }
    }
    model = BPEModel(
      vocabulary: byBytes, merges: rankedMerges, ignoreMerges: ignoreMerges,
      unknownID: unknownID)
    self.preTokenizer = preTokenizer
    self.normalizations = normalizations
    self.tokens = tokens
    self.ids = ids
    self.addedTokens = addedTokens.sorted { $0.id < $1.id }
    addedByFirstByte = byFirstByte
    // The ByteLevel decoder: a token whose characters are all in the alphabet stands for
    // their bytes; any other (an added token such as "<|im start|>") for its own UTF-8.
    decodedBytes = tokens.map { token in
      guard let token else { return [] }
      return ByteLevel.decoded(token) ?? Array(token.utf8)
    }
    specialIDs = SpecialTokenIDs(unknown: unknownID.map(Int.init))
  }

  /// The largest vocabulary accepted (ids from a file are checked against it before anything is
  /// allocated for them).
  public static let maximumVocabularySize = 1 << 24

  /// Scratch space for one `encode` call.
  struct Work {
    var buffer: [UInt8] = []
    var pieces: [Range<Int>] = []
    var split = PreTokenizer.Scratch()
    var merge = BPEModel.Work()
  }

  public func encode(_ text: String, appendingTo ids: inout [Int32]) throws {
    var work = Work()
    var text = text
    text.withUTF8 { utf8 in
      var start = 0
      var index = 0
      while index < utf8.count {
        if let (length, id) = addedToken(in: utf8, at: index) {
          if start < index { encodeText(utf8, start..<index, into: &ids, work: &work) }
          ids.append(id)
          index += length
          start = index
        } else {
          index += 1
        }
      }
      if start < utf8.count { encodeText(utf8, start..<utf8.count, into: &ids, work: &work) }
    }
  }

  /// The longest added token at `index`, with its length in bytes.
  private func addedToken(in utf8: UnsafeBufferPointer<UInt8>, at index: Int) -> (Int, Int32)? {
    let candidates = addedByFirstByte[Int(utf8[index])]
    if candidates.isEmpty { return nil }
    for candidate in candidates where index + candidate.bytes.count <= utf8.count {
      var equal = true
      for offset in 1..<candidate.bytes.count where utf8[index + offset] != candidate.bytes[offset]
      {
        equal = false
        break
      }
      if equal { return (candidate.bytes.count, candidate.id) }
    }
    return nil
  }

  /// Encodes text with no added token in it.
  private func encodeText(
    _ utf8: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into ids: inout [Int32],
    work: inout Work
  ) {
    work.buffer.removeAll(keepingCapacity: true)
    if normalizations.isEmpty {
      work.buffer.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[range]))
    } else {
      var text = String(decoding: UnsafeBufferPointer(rebasing: utf8[range]), as: UTF8.self)
      for normalization in normalizations {
        switch normalization {
        case .nfc: text = text.precomposedStringWithCanonicalMapping
        case .nfd: text = text.decomposedStringWithCanonicalMapping
        case .nfkc: text = text.precomposedStringWithCompatibilityMapping
        case .nfkd: text = text.decomposedStringWithCompatibilityMapping
        }
      }
      work.buffer.append(contentsOf: text.utf8)
    }
    preTokenizer.split(&work.buffer, into: &work.pieces, scratch: &work.split)
    work.buffer.withUnsafeBufferPointer { bytes in
      for piece in work.pieces {
        model.encode(UnsafeBufferPointer(rebasing: bytes[piece]), into: &ids, work: &work.merge)
      }
    }
  }

  public func decode(_ ids: [Int]) throws -> String {
    try decode(ids, skippingSpecial: false)
  }

  /// The text of `ids`, without the special tokens when `skippingSpecial` (as `tokenizers`'
  /// `decode(ids, skip_special_tokens=True)`).
  /// - Throws: `TokenizerError.idOutOfRange` for an id outside the vocabulary.
  public func decode(_ ids: [Int], skippingSpecial: Bool) throws -> String {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(ids.count * 4)
    for id in ids {
      guard id >= 0 && id < tokens.count, tokens[id] != nil else {
        throw TokenizerError.idOutOfRange(id: id, vocabularySize: tokens.count)
      }
      if skippingSpecial && addedTokens.contains(where: { $0.id == id && $0.special }) { continue }
      bytes.append(contentsOf: decodedBytes[id])
    }
    return String(decoding: bytes, as: UTF8.self)
  }

  public func piece(for id: Int) -> String? {
    id >= 0 && id < tokens.count ? tokens[id] : nil
  }

  public func id(for piece: String) -> Int? { ids[piece] }
}

extension ByteLevelBPETokenizer {
  /// Whether `other` encodes every text as this tokenizer does: the same token under every id,
  /// the same merges, added tokens and pre-tokenizer. Ids only one side has count as equal when
  /// the other's token there is llama.cpp's filler `[PAD<id>]` (a GGUF file's vocabulary is
  /// padded to `vocab_size`). The special ids (BOS, EOS, pad), which `tokenizer_config.json` or
  /// GGUF metadata set, and the normaliser, which llama.cpp drops, are not compared.
  public func hasSameVocabulary(as other: ByteLevelBPETokenizer) -> Bool {
    guard preTokenizer == other.preTokenizer, model.ignoreMerges == other.model.ignoreMerges,
      model.merges == other.model.merges
    else { return false }
    for id in 0..<max(tokens.count, other.tokens.count) {
      let mine = id < tokens.count ? tokens[id] : nil
      let theirs = id < other.tokens.count ? other.tokens[id] : nil
      if mine == theirs { continue }
      let filler = "[PAD\(id)]"
      guard (mine == nil && theirs == filler) || (theirs == nil && mine == filler) else {
        return false
      }
    }
    return Set(addedTokens.map(\.id)) == Set(other.addedTokens.map(\.id))
  }
}

extension Tokenizer {
  /// Whether `other` gives every text the ids this tokenizer gives: two sentencepiece models
  /// with the same pieces (`SentencePieceTokenizer.hasSameVocabulary(as:)`), or two byte-level
  /// BPE tokenizers with the same tokens and merges
  /// (``ByteLevelBPETokenizer/hasSameVocabulary(as:)``); never tokenizers of different kinds.
  public func sharesVocabulary(with other: any Tokenizer) -> Bool {
    if let mine = self as? SentencePieceTokenizer, let theirs = other as? SentencePieceTokenizer {
      return mine.hasSameVocabulary(as: theirs)
    }
    if let mine = self as? ByteLevelBPETokenizer, let theirs = other as? ByteLevelBPETokenizer {
      return mine.hasSameVocabulary(as: theirs)
    }
    return false
  }
}
