internal import CSentencePieceShim
import Foundation
import MiniSupport

/// A SentencePiece model (BPE or unigram) loaded through libsentencepiece.
///
/// Load baby-llama2-chinese's `tokenizer.model` (ChatGLM2) or a model trained with
/// `SentencePieceTokenizer.train(options:sentences:)`; encoding matches Python `sentencepiece`
/// id for id.
///
/// Thread safety (why this class is `@unchecked Sendable`): after `init` the processor is only
/// used through sentencepiece's `const` methods, which sentencepiece documents as safe to call
/// concurrently; `processor` is never replaced and is freed only in `deinit`.
public final class SentencePieceTokenizer: Tokenizer, @unchecked Sendable {
  private let processor: OpaquePointer
  /// The serialized model (the bytes of `tokenizer.model`).
  public let modelBytes: [UInt8]
  /// Number of pieces.
  public let vocabularySize: Int
  /// Unknown, BOS, EOS and pad ids of the model.
  public let specialIDs: SpecialTokenIDs
  /// The Swift BPE encoder, for the models it reproduces exactly (see `NativeBPEEncoder`).
  private let nativeEncoder: NativeBPEEncoder?
  /// The Swift unigram encoder (see `NativeUnigramEncoder`).
  private let unigramEncoder: NativeUnigramEncoder?

  /// Whether `encode` runs a native Swift encoder rather than libsentencepiece: for BPE models
  /// with byte fallback and identity normalisation (the same ids as libsentencepiece), and for
  /// unigram models with byte fallback and identity normalisation (the ids of `tokenizers` on
  /// the model's ``tokenizerJSON(addsBOS:addsEOS:)``, which differ from libsentencepiece's only
  /// where two segmentations score the same).
  public var usesNativeEncoder: Bool { nativeEncoder != nil || unigramEncoder != nil }

  /// Whether `encode` runs the native unigram Viterbi search (see ``usesNativeEncoder``).
  public var usesNativeUnigramEncoder: Bool { unigramEncoder != nil }

  /// Loads a model from a `.model` file, or from `tokenizer.model` inside a directory.
  /// - Throws: `TokenizerError.loadFailed` naming the path.
  public convenience init(contentsOf path: String) throws {
    let file = Self.modelPath(for: path)
    guard let data = FileManager.default.contents(atPath: file) else {
      throw TokenizerError.loadFailed(path: file, message: "no such file or not readable")
    }
    try self.init(modelBytes: [UInt8](data), origin: file)
  }

  /// Loads a model from its serialized bytes; `origin` names them in errors.
  /// - Throws: `TokenizerError.loadFailed` when the bytes are not a sentencepiece model.
  public convenience init(modelBytes: [UInt8], origin: String = "<memory>") throws {
    guard let processor = spm_processor_new() else {
      throw TokenizerError.loadFailed(path: origin, message: "out of memory")
    }
    var message = [CChar](repeating: 0, count: 512)
    let status = modelBytes.withUnsafeBytes { bytes in
      spm_processor_load_bytes(processor, bytes.baseAddress, bytes.count, &message, message.count)
    }
    guard status == SPM_OK else {
      spm_processor_free(processor)
      throw TokenizerError.loadFailed(path: origin, message: Self.string(message, status: status))
    }
    try self.init(adopting: processor, modelBytes: modelBytes)
  }

  /// Takes ownership of a loaded processor.
  init(adopting processor: OpaquePointer, modelBytes: [UInt8]) throws {
    self.processor = processor
    self.modelBytes = modelBytes
    self.vocabularySize = Int(spm_vocab_size(processor))
    var special = spm_special_ids()
    let status = spm_special(processor, &special)
    guard status == SPM_OK else {
      spm_processor_free(processor)
      throw TokenizerError.libraryFailure(operation: "special ids", status: status)
    }
    func optional(_ id: Int32) -> Int? { id >= 0 ? Int(id) : nil }
    self.specialIDs = SpecialTokenIDs(
      unknown: optional(special.unk), bos: optional(special.bos), eos: optional(special.eos),
      pad: optional(special.pad))
    let pieceCount = Int(spm_vocab_size(processor))
    let proto = SentencePieceModelProto(bytes: modelBytes).flatMap {
      $0.pieces.count == pieceCount ? $0 : nil
    }
    nativeEncoder = proto.flatMap { NativeBPEEncoder(model: $0) }
    unigramEncoder = proto.flatMap { NativeUnigramEncoder(model: $0) }
  }

  deinit { spm_processor_free(processor) }

  /// The model file for `path`: `path/tokenizer.model` when `path` is a directory, else `path`.
  public static func modelPath(for path: String) -> String {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
      isDirectory.boolValue
    {
      return URL(fileURLWithPath: path).appendingPathComponent("tokenizer.model").path
    }
    return path
  }

  /// Appends the ids of `text` (no BOS or EOS) to `ids`.
  /// - Complexity: O(n) in the UTF-8 length of `text`, plus sentencepiece's own work.
  public func encode(_ text: String, appendingTo ids: inout [Int32]) throws {
    var text = text
    try text.withUTF8 { utf8 in
      try encode(utf8: UnsafeRawBufferPointer(utf8), appendingTo: &ids)
    }
  }

  /// The ids of `text` after the BOS id (when the tokenizer has one), as a base model's
  /// prompt begins.
  public func encodePrompt(_ text: String) throws -> [Int32] {
    var ids = specialIDs.bos.map { [Int32($0)] } ?? []
    try encode(text, appendingTo: &ids)
    return ids
  }

  /// Appends the ids of valid UTF-8 bytes (no BOS or EOS) to `ids`.
  public func encode(utf8: UnsafeRawBufferPointer, appendingTo ids: inout [Int32]) throws {
    if let nativeEncoder {
      nativeEncoder.encode(utf8, appendingTo: &ids)
    } else if let unigramEncoder {
      unigramEncoder.encode(utf8, appendingTo: &ids)
    } else {
      try libraryEncode(utf8: utf8, appendingTo: &ids)
    }
  }

  /// Appends the ids libsentencepiece gives for valid UTF-8 bytes (the reference the native
  /// encoders are checked against).
  package func libraryEncode(utf8: UnsafeRawBufferPointer, appendingTo ids: inout [Int32]) throws {
    let base = ids.count
    // Each id covers at least one byte, plus one for the dummy prefix: one call nearly always.
    var capacity = utf8.count + 4
    while true {
      ids.append(contentsOf: repeatElement(0, count: capacity))
      var count = 0
      let status = ids.withUnsafeMutableBufferPointer { buffer in
        spm_encode_ids(
          processor, utf8.baseAddress?.assumingMemoryBound(to: CChar.self), utf8.count,
          buffer.baseAddress! + base, capacity, &count)
      }
      if status == SPM_OK {
        ids.removeLast(capacity - count)
        return
      }
      ids.removeLast(capacity)
      guard status == SPM_BUFFER_TOO_SMALL else {
        throw TokenizerError.libraryFailure(operation: "encode", status: status)
      }
      capacity = count
    }
  }

  /// The pieces of `text`, as sentencepiece's `EncodeAsPieces` returns them.
  public func encodeAsPieces(_ text: String) throws -> [String] {
    var text = text
    return try text.withUTF8 { utf8 in
      var byteCapacity = utf8.count * 2 + 8
      var countCapacity = utf8.count + 4
      while true {
        var bytes = [UInt8](repeating: 0, count: byteCapacity)
        var lengths = [Int32](repeating: 0, count: countCapacity)
        var neededBytes = 0
        var count = 0
        let status = utf8.withMemoryRebound(to: CChar.self) { chars in
          bytes.withUnsafeMutableBytes { raw in
            spm_encode_pieces(
              processor, chars.baseAddress, chars.count,
              raw.baseAddress?.assumingMemoryBound(to: CChar.self), byteCapacity, &neededBytes,
              &lengths, countCapacity, &count)
          }
        }
        if status == SPM_BUFFER_TOO_SMALL {
          byteCapacity = max(byteCapacity, neededBytes)
          countCapacity = max(countCapacity, count)
          continue
        }
        guard status == SPM_OK else {
          throw TokenizerError.libraryFailure(operation: "encode pieces", status: status)
        }
        var pieces: [String] = []
        pieces.reserveCapacity(count)
        var offset = 0
        for length in lengths.prefix(count) {
          pieces.append(String(decoding: bytes[offset..<offset + Int(length)], as: UTF8.self))
          offset += Int(length)
        }
        return pieces
      }
    }
  }

  /// The text of `ids`.
  /// - Throws: `TokenizerError.idOutOfRange` naming the first id outside the vocabulary.
  public func decode(_ ids: [Int]) throws -> String {
    var narrow: [Int32] = []
    narrow.reserveCapacity(ids.count)
    for id in ids {
      guard id >= 0, id < vocabularySize else {
        throw TokenizerError.idOutOfRange(id: id, vocabularySize: vocabularySize)
      }
      narrow.append(Int32(id))
    }
    var capacity = ids.count * 8 + 16
    while true {
      var bytes = [UInt8](repeating: 0, count: capacity)
      var needed = 0
      let status = bytes.withUnsafeMutableBytes { raw in
        spm_decode_ids(
          processor, narrow, narrow.count, raw.baseAddress?.assumingMemoryBound(to: CChar.self),
          capacity, &needed)
      }
      if status == SPM_BUFFER_TOO_SMALL {
        capacity = needed
        continue
      }
      guard status == SPM_OK else {
        throw TokenizerError.libraryFailure(operation: "decode", status: status)
      }
      return String(decoding: bytes.prefix(needed), as: UTF8.self)
    }
  }

  /// The piece of `id`, or `nil` outside the vocabulary.
  public func piece(for id: Int) -> String? {
    guard id >= 0, id < vocabularySize else { return nil }
    var capacity = 64
    while true {
      var bytes = [UInt8](repeating: 0, count: capacity)
      var needed = 0
      let status = bytes.withUnsafeMutableBytes { raw in
        spm_id_to_piece(
          processor, Int32(id), raw.baseAddress?.assumingMemoryBound(to: CChar.self), capacity,
          &needed)
      }
      if status == SPM_BUFFER_TOO_SMALL {
        capacity = needed
        continue
      }
      return status == SPM_OK
        ? String(decoding: bytes.prefix(needed), as: UTF8.self) : nil
    }
  }

  /// The id of an exact piece, or `nil` when the vocabulary has none.
  public func id(for piece: String) -> Int? {
    var piece = piece
    let id = piece.withUTF8 { utf8 in
      utf8.withMemoryRebound(to: CChar.self) {
        spm_piece_to_id(processor, $0.baseAddress, $0.count)
      }
    }
    return id >= 0 ? Int(id) : nil
  }

  /// The score of `id` (log-probability for unigram, negative merge rank for BPE).
  public func score(for id: Int) -> Float {
    precondition(id >= 0 && id < vocabularySize, "score: id \(id) ∉ 0..<\(vocabularySize)")
    return spm_score(processor, Int32(id))
  }

  /// What kind of piece `id` is.
  public func kind(of id: Int) -> PieceKind {
    precondition(id >= 0 && id < vocabularySize, "kind: id \(id) ∉ 0..<\(vocabularySize)")
    switch spm_piece_kind(processor, Int32(id)) {
    case SPM_PIECE_UNKNOWN: return .unknown
    case SPM_PIECE_CONTROL: return .control
    case SPM_PIECE_UNUSED: return .unused
    case SPM_PIECE_BYTE: return .byte
    default: return .normal
    }
  }

  /// The kinds of sentencepiece pieces (user-defined symbols report `.normal`).
  public enum PieceKind: Sendable, Equatable {
    /// An ordinary or user-defined piece.
    case normal
    /// The unknown piece.
    case unknown
    /// A control symbol such as `<s>` (never produced by encoding text).
    case control
    /// An unused piece.
    case unused
    /// A byte-fallback piece `<0xNN>`.
    case byte
  }

  /// SHA-256 of `modelBytes`, in lowercase hex.
  public var sha256: String { SHA256.hex(of: modelBytes) }

  /// Whether `other` has this tokenizer's vocabulary: the same model file, or (a model rebuilt
  /// from another file's vocabulary, such as a GGUF file's `tokenizer.ggml.*`) the same pieces
  /// under the same ids. Kinds may differ: llama.cpp's converter marks a chat template's
  /// tokens as control pieces where the trainer made them user-defined.
  public func hasSameVocabulary(as other: SentencePieceTokenizer) -> Bool {
    if sha256 == other.sha256 { return true }
    guard vocabularySize == other.vocabularySize else { return false }
    return (0..<vocabularySize).allSatisfy { piece(for: $0) == other.piece(for: $0) }
  }

  /// Writes `modelBytes` to `path` atomically.
  public func write(to path: String) throws {
    try writeFileAtomically(modelBytes, to: path)
  }

  /// The vocabulary as sentencepiece's trainer lists it in `NAME.vocab`: one `piece<TAB>score`
  /// line per id, in id order.
  public var vocabularyListing: String {
    var text = ""
    for id in 0..<vocabularySize { text += "\(piece(for: id) ?? "")\t\(score(for: id))\n" }
    return text
  }

  /// Writes ``vocabularyListing`` to `path` atomically.
  public func writeVocabulary(to path: String) throws {
    try writeFileAtomically(Array(vocabularyListing.utf8), to: path)
  }

  static func string(_ message: [CChar], status: Int32) -> String {
    let text = String(
      decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    return text.isEmpty ? "status \(status)" : text
  }
}
