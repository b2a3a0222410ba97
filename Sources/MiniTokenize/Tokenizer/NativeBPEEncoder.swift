/// A Swift re-implementation of sentencepiece's BPE encoding (`bpe_model.cc`) for the models it
/// fits exactly: BPE with byte fallback, identity normalisation, whitespace escaped as `▁`,
/// no extra-whitespace removal and no unused pieces (baby-llama2-chinese's ChatGLM2 model and every model
/// `SentencePieceTokenizer.train` makes). Other models encode through libsentencepiece.
///
/// Why it exists: Debian's libsentencepiece 0.1.97 builds a protobuf per call and hashes every
/// candidate string, which makes it about three times slower than the library inside Python's
/// wheel; this encoder looks merges up by id pair. It reproduces the library id for id, which
/// the tests check on whole corpora.
///
/// The algorithm, as in sentencepiece: split the text into characters (user-defined symbols
/// whole and frozen), then repeatedly merge the adjacent pair whose concatenation is a piece with
/// the highest score (ties: the leftmost), and finally spell characters outside the vocabulary as
/// `<0xNN>` byte pieces.
struct NativeBPEEncoder: Sendable {
  /// Piece id of each BMP character (-1: none).
  private let basicCharacters: [Int32]
  /// Piece id of characters beyond the BMP.
  private let astralCharacters: [UInt32: Int32]
  /// `left << 32 | right` → `scoreBits << 32 | merged`.
  private let merges: [UInt64: UInt64]
  /// Piece id of `<0xNN>` for each byte (the unknown id when missing).
  private let byteIDs: [Int32]
  /// User-defined symbols (UTF-8) longest first, and whether a byte can start one.
  private let userDefined: [([UInt8], Int32)]
  private let userDefinedFirstBytes: [Bool]
  private let addDummyPrefix: Bool
  private let spaceID: Int32

  /// Builds the encoder, or returns nil when the model needs something it does not do.
  init?(model: SentencePieceModelProto) {
    guard model.modelType == 2, model.byteFallback, model.charsmapIsEmpty,
      !model.removeExtraWhitespaces, model.escapeWhitespaces, !model.treatWhitespaceAsSuffix
    else { return nil }
    var ids: [[UInt8]: Int32] = [:]
    var unknownID: Int32 = -1
    var byteIDs = [Int32](repeating: -1, count: 256)
    var userDefined: [([UInt8], Int32)] = []
    for (index, piece) in model.pieces.enumerated() {
      let id = Int32(index)
      // The merge table splits pieces at character boundaries; a piece that is not valid UTF-8
      // (sentencepiece loads such models) has none to trust, so the library encodes instead.
      guard String(validating: piece.text, as: UTF8.self) != nil else { return nil }
      switch piece.type {
      case .normal: ids[piece.text] = id
      case .userDefined:
        let space = Array("▁".utf8)
        if piece.text.contains(0x20)
          || piece.text.windows(ofCount: 3).contains(where: { $0.elementsEqual(space) })
        {
          return nil
        }
        ids[piece.text] = id
        userDefined.append((piece.text, id))
      case .unused: return nil
      case .unknown:
        unknownID = id
        if Self.isOneCharacter(piece.text) { return nil }
      case .control:
        if Self.isOneCharacter(piece.text) { return nil }
      case .byte:
        guard piece.text.count == 6,
          let value = UInt8(String(decoding: piece.text[3..<5], as: UTF8.self), radix: 16)
        else { return nil }
        byteIDs[Int(value)] = id
      }
    }
    guard unknownID >= 0 else { return nil }
    self.byteIDs = byteIDs.map { $0 >= 0 ? $0 : unknownID }

    var basic = [Int32](repeating: -1, count: 0x10000)
    var astral: [UInt32: Int32] = [:]
    var merges: [UInt64: UInt64] = [:]
    for (text, id) in ids {
      let scalars = String(decoding: text, as: UTF8.self).unicodeScalars
      if scalars.count == 1, let scalar = scalars.first {
        if scalar.value < 0x10000 {
          basic[Int(scalar.value)] = id
        } else {
          astral[scalar.value] = id
        }
      }
      // Every split of the piece into two pieces is a merge producing it.
      var boundary = 0
      for scalar in scalars.dropLast() {
        boundary += UTF8.width(scalar)
        guard let left = ids[Array(text[..<boundary])], let right = ids[Array(text[boundary...])]
        else { continue }
        let score = model.pieces[Int(id)].score.bitPattern
        merges[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))] =
          UInt64(score) << 32 | UInt64(UInt32(bitPattern: id))
      }
    }
    basicCharacters = basic
    astralCharacters = astral
    self.merges = merges
    self.userDefined = userDefined.sorted { $0.0.count > $1.0.count }
    var firstBytes = [Bool](repeating: false, count: 256)
    for (text, _) in userDefined where !text.isEmpty { firstBytes[Int(text[0])] = true }
    userDefinedFirstBytes = firstBytes
    addDummyPrefix = model.addDummyPrefix
    spaceID = basic[0x2581]
  }

  private static func isOneCharacter(_ text: [UInt8]) -> Bool {
    String(decoding: text, as: UTF8.self).unicodeScalars.count == 1
  }

  /// One symbol of the text being merged: its piece id (-1 outside the vocabulary), neighbours,
  /// and the bytes it covers (for byte fallback; `start == -1` stands for an escaped space).
  private struct Symbol {
    var id: Int32
    var previous: Int32
    var next: Int32
    var start: Int32
    var length: Int32
  }

  /// A candidate merge; ordered by score, then by position.
  private struct Candidate {
    var score: Float
    var left: Int32
    var right: Int32
    var merged: Int32
    var leftID: Int32
    var rightID: Int32

    func outranks(_ other: Candidate) -> Bool {
      score != other.score ? score > other.score : left < other.left
    }
  }

  /// Appends the ids of valid UTF-8 `text` to `ids`.
  func encode(_ text: UnsafeRawBufferPointer, appendingTo ids: inout [Int32]) {
    guard !text.isEmpty else { return }
    var symbols: [Symbol] = []
    symbols.reserveCapacity(text.count / 2 + 2)
    func add(id: Int32, start: Int32, length: Int32) {
      let index = Int32(symbols.count)
      symbols.append(
        Symbol(id: id, previous: index - 1, next: index + 1, start: start, length: length))
    }
    if addDummyPrefix { add(id: spaceID, start: -1, length: 3) }
    var position = 0
    while position < text.count {
      let lead = text[position]
      if userDefinedFirstBytes[Int(lead)], let (length, id) = matchUserDefined(text, at: position) {
        add(id: id, start: Int32(position), length: Int32(length))
        // A frozen symbol never merges: mark it with a negative length.
        symbols[symbols.count - 1].length = -Int32(length)
        position += length
        continue
      }
      let (scalar, width) = Self.decodeScalar(text, at: position)
      if scalar == 0x20 {
        add(id: spaceID, start: -1, length: 3)
      } else {
        let id = scalar < 0x10000 ? basicCharacters[Int(scalar)] : (astralCharacters[scalar] ?? -1)
        add(id: id, start: Int32(position), length: Int32(width))
      }
      position += width
    }
    symbols[symbols.count - 1].next = -1

    var heap: [Candidate] = []
    heap.reserveCapacity(symbols.count)
    func consider(_ left: Int32, _ right: Int32) {
      guard left >= 0, right >= 0 else { return }
      let a = symbols[Int(left)]
      let b = symbols[Int(right)]
      guard a.id >= 0, b.id >= 0, a.length > 0, b.length > 0,
        let entry = merges[
          UInt64(UInt32(bitPattern: a.id)) << 32 | UInt64(UInt32(bitPattern: b.id))]
      else { return }
      push(
        Candidate(
          score: Float(bitPattern: UInt32(truncatingIfNeeded: entry >> 32)), left: left,
          right: right,
          merged: Int32(bitPattern: UInt32(truncatingIfNeeded: entry)), leftID: a.id, rightID: b.id),
        into: &heap)
    }
    for index in 1..<symbols.count { consider(Int32(index - 1), Int32(index)) }
    while let top = pop(&heap) {
      let left = Int(top.left)
      let right = Int(top.right)
      guard symbols[left].id == top.leftID, symbols[right].id == top.rightID,
        symbols[left].length > 0, symbols[right].length > 0, symbols[left].next == top.right
      else { continue }
      symbols[left].id = top.merged
      symbols[left].length += symbols[right].length
      symbols[left].next = symbols[right].next
      if symbols[right].next >= 0 { symbols[Int(symbols[right].next)].previous = top.left }
      symbols[right].length = 0
      consider(symbols[left].previous, top.left)
      consider(top.left, symbols[left].next)
    }

    var index: Int32 = 0
    while index >= 0 {
      let symbol = symbols[Int(index)]
      if symbol.id >= 0 {
        ids.append(symbol.id)
      } else if symbol.start < 0 {
        for byte in "▁".utf8 { ids.append(byteIDs[Int(byte)]) }
      } else {
        for offset in 0..<Int(abs(symbol.length)) {
          ids.append(byteIDs[Int(text[Int(symbol.start) + offset])])
        }
      }
      index = symbol.next
    }
  }

  private func matchUserDefined(_ text: UnsafeRawBufferPointer, at position: Int) -> (Int, Int32)? {
    for (symbol, id) in userDefined where symbol.count <= text.count - position {
      var matches = true
      for offset in 0..<symbol.count where text[position + offset] != symbol[offset] {
        matches = false
        break
      }
      if matches { return (symbol.count, id) }
    }
    return nil
  }

  /// Decodes the scalar at `position` of valid UTF-8.
  private static func decodeScalar(_ text: UnsafeRawBufferPointer, at position: Int) -> (
    UInt32, Int
  ) {
    let lead = UInt32(text[position])
    if lead < 0x80 { return (lead, 1) }
    func continuation(_ offset: Int) -> UInt32 { UInt32(text[position + offset]) & 0x3F }
    if lead < 0xE0 { return ((lead & 0x1F) << 6 | continuation(1), 2) }
    if lead < 0xF0 { return ((lead & 0x0F) << 12 | continuation(1) << 6 | continuation(2), 3) }
    return ((lead & 0x07) << 18 | continuation(1) << 12 | continuation(2) << 6 | continuation(3), 4)
  }

  private func push(_ candidate: Candidate, into heap: inout [Candidate]) {
    heap.append(candidate)
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[child].outranks(heap[parent]) else { break }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  private func pop(_ heap: inout [Candidate]) -> Candidate? {
    guard let top = heap.first else { return nil }
    let last = heap.removeLast()
    if !heap.isEmpty {
      heap[0] = last
      var parent = 0
      while true {
        let left = 2 * parent + 1
        guard left < heap.count else { break }
        var best = left
        if left + 1 < heap.count && heap[left + 1].outranks(heap[left]) { best = left + 1 }
        guard heap[best].outranks(heap[parent]) else { break }
        heap.swapAt(best, parent)
        parent = best
      }
    }
    return top
  }
}

extension Array where Element == UInt8 {
  fileprivate func windows(ofCount count: Int) -> [ArraySlice<UInt8>] {
    guard self.count >= count else { return [] }
    return (0...(self.count - count)).map { self[$0..<$0 + count] }
  }
}
