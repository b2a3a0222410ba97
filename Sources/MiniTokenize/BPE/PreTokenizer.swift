/// How a `Split` pre-tokenizer treats the text it matches, as `tokenizers` defines it.
enum SplitBehavior: String, Sendable, Equatable, CaseIterable {
  /// Matches are dropped.
  case removed = "Removed"
  /// Matches and the text between them are pieces of their own.
  case isolated = "Isolated"
  /// A match joins the piece before it.
  case mergedWithPrevious = "MergedWithPrevious"
  /// A match joins the piece after it.
  case mergedWithNext = "MergedWithNext"
  /// Adjacent matches form one piece.
  case contiguous = "Contiguous"
}

/// One step of a pre-tokenizer: each step splits every piece the previous steps made.
enum PreTokenizerStep: Sendable, Equatable {
  /// `Split`: the pattern's matches, treated as `behavior` says (`invert` swaps matches and the
  /// text between them).
  case split(SplitPattern, behavior: SplitBehavior, invert: Bool)
  /// `Digits`: numbers apart from the rest, each digit alone when `individual`.
  case digits(individual: Bool)
  /// `ByteLevel`: a space before a piece that does not start with one when `addPrefixSpace`,
  /// then the GPT-2 regex when `useRegex`. (The bytes become the byte-level alphabet in the
  /// model, which works on bytes.)
  case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
}

/// Splits text into the pieces the BPE model encodes one by one. Pieces are byte ranges of a
/// working buffer that starts as the text; a prefix space makes a copy of the piece at the
/// buffer's end.
struct PreTokenizer: Sendable, Equatable {
  var steps: [PreTokenizerStep]

  /// Scratch space reused across the steps of one call.
  struct Scratch {
    var scalars = ScalarClasses()
    var matches: [Range<Int>] = []
    var parts: [(range: Range<Int>, isMatch: Bool)] = []
    var next: [Range<Int>] = []
  }

  /// Splits `buffer` (well-formed UTF-8) into `pieces`; prefix spaces extend `buffer`.
  func split(_ buffer: inout [UInt8], into pieces: inout [Range<Int>], scratch: inout Scratch) {
    pieces.removeAll(keepingCapacity: true)
    if !buffer.isEmpty { pieces.append(0..<buffer.count) }
    for step in steps {
      scratch.next.removeAll(keepingCapacity: true)
      switch step {
      case .byteLevel(let addPrefixSpace, let useRegex):
        for var piece in pieces {
          if addPrefixSpace && buffer[piece.lowerBound] != 0x20 {
            let start = buffer.count
            buffer.append(0x20)
            buffer.append(contentsOf: buffer[piece])
            piece = start..<buffer.count
          }
          if useRegex {
            apply(.gpt2, .isolated, invert: false, to: piece, buffer, &scratch)
          } else {
            scratch.next.append(piece)
          }
        }
      case .split(let pattern, let behavior, let invert):
        for piece in pieces {
          apply(pattern, behavior, invert: invert, to: piece, buffer, &scratch)
        }
      case .digits(let individual):
        for piece in pieces { digits(individual: individual, piece, buffer, &scratch) }
      }
      swap(&pieces, &scratch.next)
    }
  }

  /// Splits one piece by `pattern` into `scratch.next`.
  private func apply(
    _ pattern: SplitPattern, _ behavior: SplitBehavior, invert: Bool, to piece: Range<Int>,
    _ buffer: [UInt8], _ scratch: inout Scratch
  ) {
    scratch.matches.removeAll(keepingCapacity: true)
    buffer.withUnsafeBufferPointer { bytes in
      pattern.matches(in: bytes, piece, scalars: &scratch.scalars, into: &scratch.matches)
    }
    scratch.parts.removeAll(keepingCapacity: true)
    var position = piece.lowerBound
    for match in scratch.matches {
      if match.lowerBound > position {
        scratch.parts.append((position..<match.lowerBound, invert))
      }
      scratch.parts.append((match, !invert))
      position = match.upperBound
    }
    if position < piece.upperBound { scratch.parts.append((position..<piece.upperBound, invert)) }
    emit(scratch.parts, behavior, into: &scratch.next)
  }

  /// `Digits`: numbers (`\p{N}`) apart from the rest: each number scalar is a match, the
  /// text between them one part.
  private func digits(
    individual: Bool, _ piece: Range<Int>, _ buffer: [UInt8], _ scratch: inout Scratch
  ) {
    buffer.withUnsafeBufferPointer { scratch.scalars.load($0, piece) }
    scratch.parts.removeAll(keepingCapacity: true)
    let s = scratch.scalars
    var gapStart = piece.lowerBound
    for index in 0..<s.count where s.kinds[index] == .number {
      if gapStart < s.offsets[index] { scratch.parts.append((gapStart..<s.offsets[index], false)) }
      scratch.parts.append((s.offsets[index]..<s.offsets[index + 1], true))
      gapStart = s.offsets[index + 1]
    }
    if gapStart < piece.upperBound { scratch.parts.append((gapStart..<piece.upperBound, false)) }
    emit(scratch.parts, individual ? .isolated : .contiguous, into: &scratch.next)
  }

  /// Applies `behavior` to parts tiling a piece, as `tokenizers`' `split` does.
  private func emit(
    _ parts: [(range: Range<Int>, isMatch: Bool)], _ behavior: SplitBehavior,
    into output: inout [Range<Int>]
  ) {
    let first = output.count
    var previousMatch = false
    switch behavior {
    case .removed:
      for part in parts where !part.isMatch { output.append(part.range) }
    case .isolated:
      for part in parts { output.append(part.range) }
    case .contiguous:
      for part in parts {
        if output.count > first && part.isMatch == previousMatch {
          output[output.count - 1] = output[output.count - 1].lowerBound..<part.range.upperBound
        } else {
          output.append(part.range)
        }
        previousMatch = part.isMatch
      }
    case .mergedWithPrevious:
      for part in parts {
        if output.count > first && part.isMatch && !previousMatch {
          output[output.count - 1] = output[output.count - 1].lowerBound..<part.range.upperBound
        } else {
          output.append(part.range)
        }
        previousMatch = part.isMatch
      }
    case .mergedWithNext:
      // From the end: a match joins the part after it.
      for part in parts.reversed() {
        if output.count > first && part.isMatch && !previousMatch {
          output[output.count - 1] = part.range.lowerBound..<output[output.count - 1].upperBound
        } else {
          output.append(part.range)
        }
        previousMatch = part.isMatch
      }
      output[first...].reverse()
    }
  }
}
