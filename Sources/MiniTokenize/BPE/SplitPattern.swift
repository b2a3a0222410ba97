import Foundation

/// What a `Split` pre-tokenizer looks for: one of the well-known GPT-2 family regexes (matched
/// by hand-written scanners, which give the regex's matches without a regex engine), a literal
/// string, or another regex (compiled once, with `NSRegularExpression`).
enum SplitPattern: Sendable, Equatable {
  /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` (GPT-2, and
  /// the `ByteLevel` pre-tokenizer's own).
  case gpt2
  /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,K}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:
  /// Llama 3 with `K` = 3, Qwen2 with `\p{N}` alone (`K` = 1).
  case llama3(maxDigits: Int)
  /// A literal string.
  case literal([UInt8])
  /// Any other regex.
  case regex(CompiledRegex)

  /// The GPT-2 regex, as `tokenizers` and llama.cpp write it.
  static let gpt2Source =
    #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
  /// The Llama 3 regex.
  static let llama3Source =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
  /// The Qwen2 regex.
  static let qwen2Source =
    #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

  /// The pattern of a regex source: a scanner for the known ones, else the compiled regex.
  /// - Throws: the compiler's error for a regex it cannot compile.
  init(regex source: String) throws {
    switch source {
    case Self.gpt2Source: self = .gpt2
    case Self.llama3Source: self = .llama3(maxDigits: 3)
    case Self.qwen2Source: self = .llama3(maxDigits: 1)
    default: self = .regex(try CompiledRegex(source))
    }
  }

  /// Appends the matches in `bytes[range]` to `matches` as byte ranges, in order; `scalars` is
  /// scratch space.
  func matches(
    in bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, scalars: inout ScalarClasses,
    into matches: inout [Range<Int>]
  ) {
    switch self {
    case .gpt2, .llama3:
      scalars.load(bytes, range)
      var index = 0
      while index < scalars.count {
        let end: Int
        if case .llama3(let maxDigits) = self {
          end = Self.llama3Match(scalars, at: index, maxDigits: maxDigits)
        } else {
          end = Self.gpt2Match(scalars, at: index)
        }
        matches.append(scalars.offsets[index]..<scalars.offsets[end])
        index = end
      }
    case .literal(let needle):
      guard !needle.isEmpty else { return }
      var index = range.lowerBound
      while index + needle.count <= range.upperBound {
        var equal = true
        for k in 0..<needle.count where bytes[index + k] != needle[k] {
          equal = false
          break
        }
        if equal {
          matches.append(index..<index + needle.count)
          index += needle.count
        } else {
          index += 1
        }
      }
    case .regex(let regex):
      regex.matches(in: bytes, range, into: &matches)
    }
  }

  /// The length of a contraction (`'s`, `'t`, `'re`, `'ve`, `'m`, `'ll`, `'d`) at `index`, or 0.
  private static func contraction(_ s: ScalarClasses, at index: Int, ignoringCase: Bool) -> Int {
    guard s.values[index] == 0x27, index + 1 < s.count else { return 0 }
    func letter(_ offset: Int) -> UInt32 {
      guard index + offset < s.count else { return 0 }
      let value = s.values[index + offset]
      return ignoringCase && (0x41...0x5A).contains(value) ? value + 0x20 : value
    }
    switch letter(1) {
    case 0x73, 0x74, 0x6D, 0x64: return 2  // s t m d
    case 0x72, 0x76: return letter(2) == 0x65 ? 3 : 0  // re ve
    case 0x6C: return letter(2) == 0x6C ? 3 : 0  // ll
    default: return 0
    }
  }

  /// The end of the run of scalars of class `kind` from `index`.
  private static func run(_ s: ScalarClasses, from index: Int, _ kind: ScalarClasses.Kind) -> Int {
    var end = index
    while end < s.count && s.kinds[end] == kind { end += 1 }
    return end
  }

  /// `\s+(?!\S)|\s+` from a white-space scalar at `index`.
  private static func spaces(_ s: ScalarClasses, from index: Int) -> Int {
    var end = index
    while end < s.count && s.kinds[end].isWhitespace { end += 1 }
    return end == s.count || end - 1 == index ? end : end - 1
  }

  /// The end of the GPT-2 regex's match at `index`.
  static func gpt2Match(_ s: ScalarClasses, at index: Int) -> Int {
    let length = contraction(s, at: index, ignoringCase: false)
    if length > 0 { return index + length }
    var start = index
    if s.values[index] == 0x20 && index + 1 < s.count && !s.kinds[index + 1].isWhitespace {
      start = index + 1
    }
    switch s.kinds[start] {
    case .letter: return run(s, from: start, .letter)
    case .number: return run(s, from: start, .number)
    case .other: return run(s, from: start, .other)
    case .space, .newline: return spaces(s, from: index)
    }
  }

  /// The end of the Llama 3 / Qwen2 regex's match at `index`.
  static func llama3Match(_ s: ScalarClasses, at index: Int, maxDigits: Int) -> Int {
    let length = contraction(s, at: index, ignoringCase: true)
    if length > 0 { return index + length }
    let kind = s.kinds[index]
    // [^\r\n\p{L}\p{N}]?\p{L}+
    if kind == .letter { return run(s, from: index, .letter) }
    if (kind == .other || kind == .space) && index + 1 < s.count && s.kinds[index + 1] == .letter {
      return run(s, from: index + 1, .letter)
    }
    // \p{N}{1,K}
    if kind == .number { return min(run(s, from: index, .number), index + maxDigits) }
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    var start = -1
    if kind == .other {
      start = index
    } else if s.values[index] == 0x20 && index + 1 < s.count && s.kinds[index + 1] == .other {
      start = index + 1
    }
    if start >= 0 { return run(s, from: run(s, from: start, .other), .newline) }
    // \s*[\r\n]+ : up to the last line break of the white-space run.
    var end = index
    var lastBreak = -1
    while end < s.count && s.kinds[end].isWhitespace {
      if s.kinds[end] == .newline { lastBreak = end }
      end += 1
    }
    if lastBreak >= 0 { return lastBreak + 1 }
    return end == s.count || end - 1 == index ? end : end - 1
  }
}

/// A regex compiled once. `NSRegularExpression` is immutable after creation and documented as
/// safe to use from several threads, hence `@unchecked Sendable`.
final class CompiledRegex: @unchecked Sendable, Equatable {
  let source: String
  private let regex: NSRegularExpression

  init(_ source: String) throws {
    self.source = source
    regex = try NSRegularExpression(pattern: source, options: [])
  }

  static func == (lhs: CompiledRegex, rhs: CompiledRegex) -> Bool { lhs.source == rhs.source }

  /// Appends the non-empty matches in `bytes[range]` as byte ranges.
  func matches(
    in bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into matches: inout [Range<Int>]
  ) {
    let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self)
    let utf16 = text.utf16
    for match in regex.matches(in: text, range: NSRange(location: 0, length: utf16.count))
    where match.range.length > 0 {
      guard let found = Range(match.range, in: text) else { continue }
      let start = text.utf8.distance(from: text.startIndex, to: found.lowerBound)
      let end = text.utf8.distance(from: text.startIndex, to: found.upperBound)
      matches.append(range.lowerBound + start..<range.lowerBound + end)
    }
  }
}
