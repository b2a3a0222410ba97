/// A Swift Viterbi search for sentencepiece unigram models that gives the ids of Hugging Face
/// `tokenizers`' `Unigram` model on the `tokenizer.json` MiniLLM writes for the same model (see
/// `SentencePieceTokenizer.tokenizerJSON(addsBOS:addsEOS:)`), so `AutoTokenizer` reads our
/// directories as we encode.
///
/// Why not libsentencepiece: a unigram model can segment a word in two ways of exactly the same
/// score (`!!!` as `!!`+`!` or `!`+`!!`). sentencepiece sums the scores in `float` and
/// `tokenizers` in `double`, and each keeps the first best path it meets in its own order, so
/// exact ties (and near ties that `float` rounds into ties) come out differently. This encoder
/// follows `tokenizers`: path scores are `Double` sums of the pieces' scores, start positions
/// are visited left to right, the pieces starting there shortest first, and a node keeps its
/// first best path (a later one must score strictly more).
///
/// It fits models with byte fallback, identity normalisation, whitespace escaped as `▁` at the
/// front of pieces, extra whitespace kept and no unused pieces (every unigram model
/// `SentencePieceTokenizer.train` makes). The text around user-defined pieces (kept whole, matched
/// longest first) is encoded alone; spaces become `▁`, and the dummy prefix, when the model adds
/// one, begins the text as sentencepiece adds it. A character that no piece covers costs the
/// lowest score of the vocabulary minus 10, as in both libraries, and is spelled as `<0xNN>`
/// byte pieces.
struct NativeUnigramEncoder: Sendable {
  /// Trie edges: `node << 8 | byte` → child node.
  private let edges: [UInt64: Int32]
  /// The normal piece ending at each trie node (-1: none), and its score.
  private let nodePiece: [Int32]
  private let nodeScore: [Double]
  /// Children of the root, by first byte (-1: none), to skip the dictionary for the first step.
  private let rootChildren: [Int32]
  /// Piece id of `<0xNN>` for each byte.
  private let byteIDs: [Int32]
  /// User-defined symbols (UTF-8) longest first, and whether a byte can start one.
  private let userDefined: [([UInt8], Int32)]
  private let userDefinedFirstBytes: [Bool]
  private let addDummyPrefix: Bool
  /// The score of a character outside the vocabulary.
  private let unknownScore: Double

  /// Builds the encoder, or returns nil when the model needs something it does not do.
  init?(model: SentencePieceModelProto) {
    guard model.modelType == 1, model.byteFallback, model.charsmapIsEmpty,
      !model.removeExtraWhitespaces, model.escapeWhitespaces, !model.treatWhitespaceAsSuffix
    else { return nil }
    var edges: [UInt64: Int32] = [:]
    var nodePiece: [Int32] = [-1]
    var nodeScore: [Double] = [0]
    var byteIDs = [Int32](repeating: -1, count: 256)
    var userDefined: [([UInt8], Int32)] = []
    var minimumScore = Double.infinity
    var hasUnknown = false
    let space = Array("▁".utf8)
    for (index, piece) in model.pieces.enumerated() {
      let id = Int32(index)
      guard String(validating: piece.text, as: UTF8.self) != nil else { return nil }
      // tokenizers takes the lowest score over the whole vocabulary.
      minimumScore = min(minimumScore, Double(piece.score))
      switch piece.type {
      case .normal:
        guard !piece.text.isEmpty else { continue }
        var node = 0
        for byte in piece.text {
          let key = UInt64(node) << 8 | UInt64(byte)
          if let child = edges[key] {
            node = Int(child)
          } else {
            edges[key] = Int32(nodePiece.count)
            node = nodePiece.count
            nodePiece.append(-1)
            nodeScore.append(0)
          }
        }
        if nodePiece[node] < 0 {
          nodePiece[node] = id
          nodeScore[node] = Double(piece.score)
        }
      case .userDefined:
        if piece.text.isEmpty || piece.text.contains(0x20)
          || piece.text.indices.dropLast(2).contains(where: {
            piece.text[$0..<$0 + 3].elementsEqual(space)
          })
        {
          return nil
        }
        userDefined.append((piece.text, id))
      case .unused: return nil
      case .unknown: hasUnknown = true
      case .control: break
      case .byte:
        guard piece.text.count == 6,
          let value = UInt8(String(decoding: piece.text[3..<5], as: UTF8.self), radix: 16)
        else { return nil }
        byteIDs[Int(value)] = id
      }
    }
    guard hasUnknown, !byteIDs.contains(-1) else { return nil }
    self.edges = edges
    self.nodePiece = nodePiece
    self.nodeScore = nodeScore
    var root = [Int32](repeating: -1, count: 256)
    for byte in 0..<256 { root[byte] = edges[UInt64(byte)] ?? -1 }
    rootChildren = root
    self.byteIDs = byteIDs
    self.userDefined = userDefined.sorted { $0.0.count > $1.0.count }
    var firstBytes = [Bool](repeating: false, count: 256)
    for (text, _) in userDefined { firstBytes[Int(text[0])] = true }
    userDefinedFirstBytes = firstBytes
    addDummyPrefix = model.addDummyPrefix
    unknownScore = minimumScore - 10
  }

  /// Appends the ids of valid UTF-8 `text` to `ids`.
  func encode(_ text: UnsafeRawBufferPointer, appendingTo ids: inout [Int32]) {
    guard !text.isEmpty else { return }
    var normalized: [UInt8] = []
    normalized.reserveCapacity(text.count + 16)
    var lattice = Lattice()
    if addDummyPrefix { normalized.append(contentsOf: [0xE2, 0x96, 0x81]) }
    var position = 0
    while position < text.count {
      let byte = text[position]
      if userDefinedFirstBytes[Int(byte)], let (length, id) = matchUserDefined(text, at: position) {
        encodeSegment(normalized, lattice: &lattice, appendingTo: &ids)
        normalized.removeAll(keepingCapacity: true)
        ids.append(id)
        position += length
        continue
      }
      if byte == 0x20 {
        normalized.append(contentsOf: [0xE2, 0x96, 0x81])
      } else {
        normalized.append(byte)
      }
      position += 1
    }
    encodeSegment(normalized, lattice: &lattice, appendingTo: &ids)
  }

  /// The best path ending at each byte offset of a segment.
  private struct Lattice {
    var score: [Double] = []
    var start: [Int32] = []
    var piece: [Int32] = []
    var path: [(start: Int32, piece: Int32)] = []
  }

  /// Runs the Viterbi search over one normalized segment (valid UTF-8) and appends its ids.
  private func encodeSegment(
    _ segment: [UInt8], lattice: inout Lattice, appendingTo ids: inout [Int32]
  ) {
    let size = segment.count
    guard size > 0 else { return }
    lattice.score.removeAll(keepingCapacity: true)
    lattice.score.append(contentsOf: repeatElement(0, count: size + 1))
    lattice.start.removeAll(keepingCapacity: true)
    lattice.start.append(contentsOf: repeatElement(-1, count: size + 1))
    lattice.piece.removeAll(keepingCapacity: true)
    lattice.piece.append(contentsOf: repeatElement(-1, count: size + 1))
    segment.withUnsafeBufferPointer { bytes in
      var startsAt = 0
      while startsAt < size {
        let scoreHere = lattice.score[startsAt]
        let characterLength = Self.utf8Length(lead: bytes[startsAt])
        var hasSingleCharacter = false
        var node = Int(rootChildren[Int(bytes[startsAt])])
        var end = startsAt + 1
        while node >= 0 {
          let id = nodePiece[node]
          if id >= 0 {
            let candidate = nodeScore[node] + scoreHere
            if lattice.start[end] < 0 || candidate > lattice.score[end] {
              lattice.score[end] = candidate
              lattice.start[end] = Int32(startsAt)
              lattice.piece[end] = id
            }
            if end - startsAt == characterLength { hasSingleCharacter = true }
          }
          guard end < size, let child = edges[UInt64(node) << 8 | UInt64(bytes[end])] else {
            break
          }
          node = Int(child)
          end += 1
        }
        if !hasSingleCharacter {
          let end = startsAt + characterLength
          let candidate = unknownScore + scoreHere
          if lattice.start[end] < 0 || candidate > lattice.score[end] {
            lattice.score[end] = candidate
            lattice.start[end] = Int32(startsAt)
            lattice.piece[end] = -1
          }
        }
        startsAt += characterLength
      }
      lattice.path.removeAll(keepingCapacity: true)
      var endsAt = size
      while endsAt > 0 {
        let start = lattice.start[endsAt]
        lattice.path.append((start, lattice.piece[endsAt]))
        endsAt = Int(start)
      }
      var index = lattice.path.count
      while index > 0 {
        index -= 1
        let (start, piece) = lattice.path[index]
        if piece >= 0 {
          ids.append(piece)
        } else {
          let end = index == 0 ? size : Int(lattice.path[index - 1].start)
          for offset in Int(start)..<end { ids.append(byteIDs[Int(bytes[offset])]) }
        }
      }
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

  /// The length of the UTF-8 sequence that `lead` begins (valid UTF-8).
  private static func utf8Length(lead: UInt8) -> Int {
    lead < 0x80 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4
  }
}
