/// A counter-based Philox-4×32-10 random number generator.
///
/// Its whole state is four integers (`State`), so it can be saved in a checkpoint and restored
/// exactly; `split(_:)` derives independent generators (per data-loader worker, per layer, …)
/// without advancing this one.
public struct PhiloxRNG: RandomNumberGenerator, Sendable {
  /// The saved form of a generator: restoring it continues the same sequence.
  public struct State: Codable, Sendable, Equatable {
    /// The key (the seed).
    public var seed: UInt64
    /// The upper 64 bits of the 128-bit counter: the stream.
    public var stream: UInt64
    /// The lower 64 bits of the counter: blocks produced so far.
    public var counter: UInt64
    /// 32-bit words already used from the current block (0…4).
    public var word: Int
  }

  private var key: (UInt32, UInt32)
  private var stateValue: State
  private var block: (UInt32, UInt32, UInt32, UInt32) = (0, 0, 0, 0)

  /// A generator for `seed` on stream `stream`.
  public init(seed: UInt64, stream: UInt64 = 0) {
    self.init(state: State(seed: seed, stream: stream, counter: 0, word: 4))
  }

  /// A generator continuing exactly from a saved state.
  public init(state: State) {
    precondition((0...4).contains(state.word), "PhiloxRNG: word \(state.word) not in 0...4")
    stateValue = state
    key = (UInt32(truncatingIfNeeded: state.seed), UInt32(truncatingIfNeeded: state.seed >> 32))
    if state.word < 4 { block = Self.philox(counterFor(state.counter &- 1), key) }
  }

  /// The current state; `PhiloxRNG(state:)` resumes from it.
  public var state: State { stateValue }

  /// An independent generator derived from this one's seed, stream and `index`.
  public func split(_ index: UInt64) -> PhiloxRNG {
    var mix = SplitMix(stateValue.seed ^ (stateValue.stream &* 0x9E37_79B9_7F4A_7C15))
    _ = mix.next()
    let seed = mix.next() ^ (index &+ 1) &* 0xBF58_476D_1CE4_E5B9
    var second = SplitMix(seed)
    return PhiloxRNG(seed: second.next(), stream: stateValue.stream)
  }

  private func counterFor(_ counter: UInt64) -> (UInt32, UInt32, UInt32, UInt32) {
    (
      UInt32(truncatingIfNeeded: counter), UInt32(truncatingIfNeeded: counter >> 32),
      UInt32(truncatingIfNeeded: stateValue.stream),
      UInt32(truncatingIfNeeded: stateValue.stream >> 32)
    )
  }

  /// The next 32 random bits.
  public mutating func nextUInt32() -> UInt32 {
    if stateValue.word == 4 {
      block = Self.philox(counterFor(stateValue.counter), key)
      stateValue.counter &+= 1
      stateValue.word = 0
    }
    defer { stateValue.word += 1 }
    switch stateValue.word {
    case 0: return block.0
    case 1: return block.1
    case 2: return block.2
    default: return block.3
    }
  }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    UInt64(nextUInt32()) << 32 | UInt64(nextUInt32())
  }

  /// A uniform `Float` in `[0, 1)` with 24 random bits.
  public mutating func nextUniform() -> Float {
    Float(nextUInt32() >> 8) * 0x1p-24
  }

  /// A standard normal sample (Box–Muller).
  public mutating func nextNormal() -> Float {
    let u1 = (Double(nextUInt32() >> 8) + 1) * 0x1p-24
    let u2 = Double(nextUInt32() >> 8) * 0x1p-24
    return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
  }

  /// Fills `buffer` with normal samples.
  public mutating func fillNormal(
    _ buffer: UnsafeMutableBufferPointer<Float>, mean: Float, standardDeviation: Float
  ) {
    for i in buffer.indices { buffer[i] = mean + standardDeviation * nextNormal() }
  }

  /// Fills `buffer` with uniform samples in `range`.
  public mutating func fillUniform(
    _ buffer: UnsafeMutableBufferPointer<Float>, in range: Range<Float>
  ) {
    let width = range.upperBound - range.lowerBound
    for i in buffer.indices {
      buffer[i] = min(range.lowerBound + width * nextUniform(), range.upperBound.nextDown)
    }
  }

  @inline(__always)
  private static func mulhilo(_ a: UInt32, _ b: UInt32) -> (hi: UInt32, lo: UInt32) {
    let product = UInt64(a) * UInt64(b)
    return (UInt32(truncatingIfNeeded: product >> 32), UInt32(truncatingIfNeeded: product))
  }

  private static func philox(
    _ counter: (UInt32, UInt32, UInt32, UInt32), _ key: (UInt32, UInt32)
  ) -> (UInt32, UInt32, UInt32, UInt32) {
    var c = counter
    var k = key
    for _ in 0..<10 {
      let (hi0, lo0) = mulhilo(0xD251_1F53, c.0)
      let (hi1, lo1) = mulhilo(0xCD9E_8D57, c.2)
      c = (hi1 ^ c.1 ^ k.0, lo1, hi0 ^ c.3 ^ k.1, lo0)
      k = (k.0 &+ 0x9E37_79B9, k.1 &+ 0xBB67_AE85)
    }
    return c
  }
}

extension PhiloxRNG.State {
  enum CodingKeys: String, CodingKey {
    case seed, stream, counter, word
  }

  /// Decodes a saved state, checking that `word` is in 0...4.
  /// - Throws: `DecodingError.dataCorrupted` naming `word` when it is out of range.
  public init(from decoder: any Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    let word = try c.decode(Int.self, forKey: .word)
    guard (0...4).contains(word) else {
      throw DecodingError.dataCorruptedError(
        forKey: .word, in: c, debugDescription: "RNG word \(word) is not in 0...4")
    }
    self.init(
      seed: try c.decode(UInt64.self, forKey: .seed),
      stream: try c.decode(UInt64.self, forKey: .stream),
      counter: try c.decode(UInt64.self, forKey: .counter), word: word)
  }
}

/// SplitMix64, used only to derive seeds.
struct SplitMix {
  var state: UInt64
  init(_ seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

#if canImport(Glibc)
  import Glibc
  @inline(__always) private func _log(_ x: Double) -> Double { Glibc.log(x) }
  @inline(__always) private func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#endif
