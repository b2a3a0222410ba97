/// One instruction-tuning example, written as an Alpaca record (`instruction`, `input`, `output`).
public struct InstructionRecord: Sendable, Hashable {
  /// What the example teaches.
  public enum Kind: String, Sendable, CaseIterable, Codable, Comparable {
    /// Who the assistant is (from `SelfCognition.templates`; placeholders left in).
    case selfCognition = "self_cognition"
    /// The author of a poem, given its title.
    case poemAuthor = "poem_author"
    /// The next half-line or line of a poem.
    case poemContinuation = "poem_continuation"
    /// A whole (short) poem, given its title.
    case poemRecitation = "poem_recitation"
    /// What a command (or function, file) does, from its man page's NAME line.
    case manPage = "man_page"

    public static func < (lhs: Kind, rhs: Kind) -> Bool {
      (allCases.firstIndex(of: lhs) ?? 0) < (allCases.firstIndex(of: rhs) ?? 0)
    }
  }

  /// What the example teaches.
  public var kind: Kind
  /// The user's message.
  public var instruction: String
  /// The reference answer.
  public var output: String

  /// Creates a record.
  public init(kind: Kind, instruction: String, output: String) {
    self.kind = kind
    self.instruction = instruction
    self.output = output
  }

  /// The record's Alpaca fields (`input` empty).
  public var alpacaFields: [String: String] {
    ["instruction": instruction, "input": "", "output": output]
  }
}

/// A small seeded generator (SplitMix64) for the data builders: fast, and the same sequence on
/// every platform for a seed.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A uniform index in `0..<count` (modulo reduction: the bias is negligible for small counts,
  /// and unlike the standard library's algorithms it never changes between Swift versions).
  mutating func index(below count: Int) -> Int {
    precondition(count > 0, "index(below: \(count))")
    return Int(next() % UInt64(count))
  }

  /// Shuffles `items` in place (Fisher–Yates).
  mutating func shuffle<T>(_ items: inout [T]) {
    guard items.count > 1 else { return }
    for i in stride(from: items.count - 1, to: 0, by: -1) {
      items.swapAt(i, index(below: i + 1))
    }
  }
}
