/// The parts of a serialized sentencepiece `ModelProto` that the native BPE encoder and GGUF
/// export need, read with a minimal protobuf wire-format parser (Debian's libsentencepiece ships
/// no `.pb.h`).
///
/// Field numbers are those of `sentencepiece_model.proto`: `ModelProto.pieces = 1`,
/// `trainer_spec = 2`, `normalizer_spec = 3`; `SentencePiece.piece = 1, score = 2, type = 3`;
/// `TrainerSpec.model_type = 3, treat_whitespace_as_suffix = 24, byte_fallback = 35`;
/// `NormalizerSpec.precompiled_charsmap = 2, add_dummy_prefix = 3, remove_extra_whitespaces = 4,
/// escape_whitespaces = 5`.
package struct SentencePieceModelProto {
  /// `SentencePiece.Type`.
  package enum PieceType: UInt64 {
    case normal = 1, unknown = 2, control = 3, userDefined = 4, unused = 5, byte = 6
  }

  package struct Piece {
    package var text: [UInt8] = []
    package var score: Float = 0
    package var type = PieceType.normal
  }

  package var pieces: [Piece] = []
  /// `TrainerSpec.ModelType`: 1 unigram, 2 BPE, 3 word, 4 char.
  var modelType: UInt64 = 1
  var byteFallback = false
  var treatWhitespaceAsSuffix = false
  var charsmapIsEmpty = true
  package var addDummyPrefix = true
  var removeExtraWhitespaces = true
  var escapeWhitespaces = true

  /// Parses `bytes`; nil when they are not a well-formed protobuf.
  package init?(bytes: [UInt8]) {
    let parsed: Bool = bytes.withUnsafeBytes { buffer in
      var reader = ProtoReader(buffer)
      while let (field, wire) = reader.nextKey() {
        switch (field, wire) {
        case (1, 2):
          guard let message = reader.lengthDelimited(), let piece = Self.piece(message) else {
            return false
          }
          pieces.append(piece)
        case (2, 2):
          guard let message = reader.lengthDelimited() else { return false }
          var trainer = ProtoReader(message)
          while let (field, wire) = trainer.nextKey() {
            switch (field, wire) {
            case (3, 0): modelType = trainer.varint() ?? 0
            case (24, 0): treatWhitespaceAsSuffix = (trainer.varint() ?? 0) != 0
            case (35, 0): byteFallback = (trainer.varint() ?? 0) != 0
            default: if !trainer.skip(wire) { return false }
            }
          }
          if trainer.failed { return false }
        case (3, 2):
          guard let message = reader.lengthDelimited() else { return false }
          var normalizer = ProtoReader(message)
          while let (field, wire) = normalizer.nextKey() {
            switch (field, wire) {
            case (2, 2): charsmapIsEmpty = (normalizer.lengthDelimited()?.count ?? 0) == 0
            case (3, 0): addDummyPrefix = (normalizer.varint() ?? 1) != 0
            case (4, 0): removeExtraWhitespaces = (normalizer.varint() ?? 1) != 0
            case (5, 0): escapeWhitespaces = (normalizer.varint() ?? 1) != 0
            default: if !normalizer.skip(wire) { return false }
            }
          }
          if normalizer.failed { return false }
        default:
          if !reader.skip(wire) { return false }
        }
      }
      return !reader.failed
    }
    if !parsed { return nil }
  }

  private static func piece(_ message: UnsafeRawBufferPointer) -> Piece? {
    var piece = Piece()
    var reader = ProtoReader(message)
    while let (field, wire) = reader.nextKey() {
      switch (field, wire) {
      case (1, 2):
        guard let text = reader.lengthDelimited() else { return nil }
        piece.text = Array(text)
      case (2, 5):
        guard let bits = reader.fixed32() else { return nil }
        piece.score = Float(bitPattern: bits)
      case (3, 0):
        guard let type = reader.varint().flatMap(PieceType.init(rawValue:)) else { return nil }
        piece.type = type
      default:
        if !reader.skip(wire) { return nil }
      }
    }
    return reader.failed ? nil : piece
  }
}

/// Reads protobuf wire format: keys, varints, fixed-width and length-delimited fields.
private struct ProtoReader {
  let bytes: UnsafeRawBufferPointer
  var position = 0
  var failed = false

  init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

  mutating func nextKey() -> (field: UInt64, wire: UInt64)? {
    guard !failed, position < bytes.count, let key = varint() else { return nil }
    return (key >> 3, key & 7)
  }

  mutating func varint() -> UInt64? {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while position < bytes.count && shift < 64 {
      let byte = bytes[position]
      position += 1
      value |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return value }
      shift += 7
    }
    failed = true
    return nil
  }

  mutating func fixed32() -> UInt32? {
    guard position + 4 <= bytes.count else {
      failed = true
      return nil
    }
    defer { position += 4 }
    return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: position, as: UInt32.self))
  }

  mutating func lengthDelimited() -> UnsafeRawBufferPointer? {
    guard let length = varint(), length <= UInt64(bytes.count - position) else {
      failed = true
      return nil
    }
    defer { position += Int(length) }
    return UnsafeRawBufferPointer(rebasing: bytes[position..<position + Int(length)])
  }

  mutating func skip(_ wire: UInt64) -> Bool {
    switch wire {
    case 0: return varint() != nil
    case 1:
      guard position + 8 <= bytes.count else { return false }
      position += 8
      return true
    case 2: return lengthDelimited() != nil
    case 5: return fixed32() != nil
    default:
      failed = true
      return false
    }
  }
}
