/// A tokenizer's vocabulary as GGUF stores it (`tokenizer.ggml.*`), given as plain values so a
/// GGUF reader can build the tokenizer without MiniTokenize knowing the file format.
public struct GGUFTokenizerMetadata: Sendable, Equatable {
  /// `tokenizer.ggml.model`: `gpt2` (byte-level BPE) or `llama` (sentencepiece).
  public var model: String
  /// `tokenizer.ggml.pre`: the pre-tokenizer of a `gpt2` model (`gpt-2` — also spelt `gpt2`
  /// —, `llama-bpe`, `qwen2`, `starcoder`, `smollm`, `refact`); `nil` and `default` mean GPT-2's.
  public var pre: String?
  /// `tokenizer.ggml.tokens`.
  public var tokens: [String]
  /// `tokenizer.ggml.merges` (`"a b"`), for `gpt2`.
  public var merges: [String]
  /// `tokenizer.ggml.token_type`: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused,
  /// 6 byte; empty means all normal.
  public var tokenTypes: [Int32]
  /// `tokenizer.ggml.scores`, for `llama`.
  public var scores: [Float]
  /// `tokenizer.ggml.bos_token_id`, `eos_token_id`, `unknown_token_id`, `padding_token_id`.
  public var bosID: Int?
  public var eosID: Int?
  public var unknownID: Int?
  public var paddingID: Int?
  /// `tokenizer.ggml.add_space_prefix` of a `llama` model (sentencepiece's dummy prefix).
  public var addSpacePrefix: Bool

  /// Creates the metadata.
  public init(
    model: String, pre: String? = nil, tokens: [String], merges: [String] = [],
    tokenTypes: [Int32] = [], scores: [Float] = [], bosID: Int? = nil, eosID: Int? = nil,
    unknownID: Int? = nil, paddingID: Int? = nil, addSpacePrefix: Bool = true
  ) {
    self.model = model
    self.pre = pre
    self.tokens = tokens
    self.merges = merges
    self.tokenTypes = tokenTypes
    self.scores = scores
    self.bosID = bosID
    self.eosID = eosID
    self.unknownID = unknownID
    self.paddingID = paddingID
    self.addSpacePrefix = addSpacePrefix
  }

  /// The tokenizer the metadata describes: a `ByteLevelBPETokenizer` for `gpt2`, a
  /// `SentencePieceTokenizer` for `llama`.
  /// - Parameter origin: names the file in errors.
  /// - Throws: `TokenizerError.loadFailed` naming `origin` and the key at fault.
  public func makeTokenizer(origin: String = "<gguf>") throws -> any Tokenizer {
    switch model {
    case "gpt2": return try ByteLevelBPETokenizer(gguf: self, origin: origin)
    case "llama": return try SentencePieceTokenizer(gguf: self, origin: origin)
    default:
      throw TokenizerError.loadFailed(
        path: origin, message: "tokenizer.ggml.model '\(model)' is not supported (gpt2, llama are)")
    }
  }

  func failure(_ origin: String, _ key: String, _ message: String) -> TokenizerError {
    .loadFailed(path: origin, message: "tokenizer.ggml.\(key): \(message)")
  }

  /// Checks the arrays' lengths and the special ids.
  func validate(origin: String) throws {
    guard !tokens.isEmpty, tokens.count <= ByteLevelBPETokenizer.maximumVocabularySize else {
      throw failure(origin, "tokens", "\(tokens.count) tokens")
    }
    if !tokenTypes.isEmpty && tokenTypes.count != tokens.count {
      throw failure(origin, "token_type", "\(tokenTypes.count) types for \(tokens.count) tokens")
    }
    if let bad = tokenTypes.firstIndex(where: { !(1...6).contains($0) }) {
      throw failure(origin, "token_type", "type \(tokenTypes[bad]) of token \(bad) is not 1…6")
    }
    for (key, id) in [
      ("bos_token_id", bosID), ("eos_token_id", eosID), ("unknown_token_id", unknownID),
      ("padding_token_id", paddingID),
    ] {
      if let id, !(0..<tokens.count).contains(id) {
        throw failure(origin, key, "\(id) is outside 0..<\(tokens.count)")
      }
    }
  }
}

extension ByteLevelBPETokenizer {
  /// The pre-tokenizer steps of a GGUF `tokenizer.ggml.pre`, as llama.cpp maps them, and
  /// whether whole pieces found in the vocabulary skip the merges (Llama 3).
  static func ggufPreTokenizer(_ pre: String) -> (steps: [PreTokenizerStep], ignoreMerges: Bool)? {
    let byteLevel = PreTokenizerStep.byteLevel(addPrefixSpace: false, useRegex: false)
    switch pre {
    case "gpt-2", "gpt2", "default":
      return ([.byteLevel(addPrefixSpace: false, useRegex: true)], false)
    case "llama-bpe", "llama3":
      return ([.split(.llama3(maxDigits: 3), behavior: .isolated, invert: false), byteLevel], true)
    case "qwen2":
      return (
        [.split(.llama3(maxDigits: 1), behavior: .isolated, invert: false), byteLevel], false
      )
    case "starcoder", "smollm", "refact":
      return (
        [.digits(individual: true), .byteLevel(addPrefixSpace: false, useRegex: true)], false
      )
    default:
      return nil
    }
  }

  /// The `tokenizer.ggml.pre` names this reader knows, one per behaviour, in the order
  /// ``ggufPreTokenizerName(origin:)`` tries them.
  static let ggufPreTokenizerNames = ["gpt-2", "llama-bpe", "qwen2", "smollm"]

  /// The `tokenizer.ggml.pre` under which llama.cpp splits text as this tokenizer does: `gpt-2`
  /// (the `ByteLevel` pre-tokenizer with its regex), `llama-bpe` (Llama 3's `Split` regex, then
  /// `ByteLevel` without one, with `ignore_merges`), `qwen2` (Qwen2's regex: digits one by one)
  /// or `smollm` (`Digits` one by one, then `ByteLevel` with its regex: SmolLM, StarCoder).
  ///
  /// llama.cpp applies no normaliser to a `gpt2` vocabulary; an `NFC` normaliser (Qwen2's) is
  /// accepted, as llama.cpp's converter accepts it (the two then agree on NFC text), others
  /// are refused.
  /// - Parameter origin: the `tokenizer.json` named in errors.
  /// - Throws: `TokenizerError.loadFailed` naming `origin` and the field (`$.pre_tokenizer`,
  ///   `$.model.ignore_merges`, `$.normalizer`) when llama.cpp would tokenise differently.
  public func ggufPreTokenizerName(origin: String) throws -> String {
    func failure(_ field: String, _ message: String) -> TokenizerError {
      .loadFailed(path: origin, message: "\(field): \(message)")
    }
    guard normalizations.isEmpty || normalizations == [.nfc] else {
      throw failure(
        "$.normalizer",
        "llama.cpp applies no normaliser to a byte-level BPE vocabulary; only none or NFC is "
          + "exported")
    }
    for name in Self.ggufPreTokenizerNames {
      guard let (steps, ignoreMerges) = Self.ggufPreTokenizer(name), steps == preTokenizer.steps
      else { continue }
      guard ignoreMerges == model.ignoreMerges else {
        throw failure(
          "$.model.ignore_merges",
          "llama.cpp's '\(name)' pre-tokenizer \(ignoreMerges ? "skips" : "applies") the merges "
            + "for pieces found whole in the vocabulary; this tokenizer "
            + (model.ignoreMerges ? "skips" : "applies") + " them")
      }
      return name
    }
    throw failure(
      "$.pre_tokenizer",
      "llama.cpp knows no pre-tokenizer that splits text as this one does (exported: GPT-2's "
        + "ByteLevel regex, Llama 3's or Qwen2's Split regex before ByteLevel, Digits before "
        + "ByteLevel as SmolLM's)")
  }

  /// Builds a byte-level BPE tokenizer from a `gpt2` GGUF vocabulary: control and user-defined
  /// tokens are kept whole in text (control tokens are special), as llama.cpp does.
  /// - Throws: `TokenizerError.loadFailed` naming `origin` and the key at fault.
  public init(gguf metadata: GGUFTokenizerMetadata, origin: String = "<gguf>") throws {
    try metadata.validate(origin: origin)
    let pre = metadata.pre ?? "gpt2"
    guard let (steps, ignoreMerges) = Self.ggufPreTokenizer(pre) else {
      throw metadata.failure(
        origin, "pre",
        "'\(pre)' is not supported (gpt-2, llama-bpe, qwen2, starcoder, smollm, refact are)")
    }
    var vocabulary: [String: Int] = [:]
    var added: [AddedToken] = []
    for (id, token) in metadata.tokens.enumerated() {
      let type = metadata.tokenTypes.isEmpty ? 1 : metadata.tokenTypes[id]
      if type == 3 || type == 4 {
        added.append(AddedToken(id: id, content: token, special: type == 3))
      } else if vocabulary[token] == nil {
        vocabulary[token] = id
      }
    }
    var merges: [(String, String)] = []
    merges.reserveCapacity(metadata.merges.count)
    for (index, line) in metadata.merges.enumerated() {
      let parts = line.split(separator: " ", omittingEmptySubsequences: false)
      guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
        throw metadata.failure(
          origin, "merges", "entry \(index) '\(line)' is not two tokens separated by one space")
      }
      merges.append((String(parts[0]), String(parts[1])))
    }
    try self.init(
      vocabulary: vocabulary, merges: merges, addedTokens: added,
      preTokenizer: PreTokenizer(steps: steps), normalizations: [], ignoreMerges: ignoreMerges,
      unknownToken: nil, origin: origin)
    specialIDs = SpecialTokenIDs(
      unknown: metadata.unknownID, bos: metadata.bosID, eos: metadata.eosID,
      pad: metadata.paddingID)
  }
}

extension SentencePieceTokenizer {
  /// Builds a sentencepiece BPE model from a `llama` GGUF vocabulary (pieces, scores and
  /// types), as llama.cpp reads it: byte fallback when the vocabulary has byte pieces, the
  /// dummy prefix from `tokenizer.ggml.add_space_prefix`, no other normalisation.
  /// - Throws: `TokenizerError.loadFailed` naming `origin` and the key at fault.
  public convenience init(gguf metadata: GGUFTokenizerMetadata, origin: String = "<gguf>") throws {
    try metadata.validate(origin: origin)
    guard metadata.scores.count == metadata.tokens.count else {
      throw metadata.failure(
        origin, "scores", "\(metadata.scores.count) scores for \(metadata.tokens.count) tokens")
    }
    var proto = ProtoWriter()
    var hasBytes = false
    for (id, token) in metadata.tokens.enumerated() {
      var type = metadata.tokenTypes.isEmpty ? 1 : Int(metadata.tokenTypes[id])
      if id == metadata.unknownID { type = 2 }
      if type == 6 { hasBytes = true }
      var piece = ProtoWriter()
      piece.bytes(1, Array(token.utf8))
      piece.float(2, metadata.scores[id])
      piece.varint(3, UInt64(type))
      proto.bytes(1, piece.output)
    }
    var trainer = ProtoWriter()
    trainer.varint(3, 2)  // BPE
    trainer.varint(35, hasBytes ? 1 : 0)
    func piece(_ field: Int, _ id: Int?, _ fallback: String) {
      trainer.bytes(field, Array((id.map { metadata.tokens[$0] } ?? fallback).utf8))
    }
    piece(45, metadata.unknownID, "<unk>")
    piece(46, metadata.bosID, "<s>")
    piece(47, metadata.eosID, "</s>")
    piece(48, metadata.paddingID, "<pad>")
    proto.bytes(2, trainer.output)
    var normalizer = ProtoWriter()
    normalizer.bytes(1, Array("identity".utf8))
    normalizer.varint(3, metadata.addSpacePrefix ? 1 : 0)
    normalizer.varint(4, 0)
    normalizer.varint(5, 1)
    proto.bytes(3, normalizer.output)
    try self.init(modelBytes: proto.output, origin: origin)
  }
}

/// Writes protobuf wire format (the fields a sentencepiece `ModelProto` needs).
struct ProtoWriter {
  var output: [UInt8] = []

  mutating func rawVarint(_ value: UInt64) {
    var value = value
    while value >= 0x80 {
      output.append(UInt8(value & 0x7F) | 0x80)
      value >>= 7
    }
    output.append(UInt8(value))
  }

  mutating func varint(_ field: Int, _ value: UInt64) {
    rawVarint(UInt64(field) << 3)
    rawVarint(value)
  }

  mutating func float(_ field: Int, _ value: Float) {
    rawVarint(UInt64(field) << 3 | 5)
    withUnsafeBytes(of: value.bitPattern.littleEndian) { output.append(contentsOf: $0) }
  }

  mutating func bytes(_ field: Int, _ value: [UInt8]) {
    rawVarint(UInt64(field) << 3 | 2)
    rawVarint(UInt64(value.count))
    output.append(contentsOf: value)
  }
}
