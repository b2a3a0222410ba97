import MiniTensor

/// How the next token is chosen from the logits.
public struct SamplingOptions: Sendable, Equatable {
  /// Always the most likely token (ignores temperature, top-k and top-p).
  public var greedy: Bool
  /// Logits are divided by this before sampling (> 0).
  public var temperature: Float
  /// Keep only the `topK` most likely tokens (0 keeps all).
  public var topK: Int
  /// Keep the smallest set of tokens whose probability reaches `topP` (1 keeps all).
  public var topP: Float
  /// Tokens already present are penalised as in `transformers`: positive logits are divided by
  /// it, negative ones multiplied (1 disables).
  public var repetitionPenalty: Float
  /// Seed of the sampling generator.
  public var seed: UInt64

  /// Sampling settings; the defaults sample at temperature 1 from the full distribution.
  public init(
    greedy: Bool = false, temperature: Float = 1, topK: Int = 0, topP: Float = 1,
    repetitionPenalty: Float = 1, seed: UInt64 = 0
  ) {
    self.greedy = greedy
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
    self.repetitionPenalty = repetitionPenalty
    self.seed = seed
  }

  /// Greedy decoding.
  public static let greedy = SamplingOptions(greedy: true)

  /// These settings for sample `index` of a numbered run: the seed mixed from `seed` and `index`
  /// by SplitMix64's finaliser, so neighbouring indices get unrelated seeds.
  public func numbered(_ index: Int) -> SamplingOptions {
    var options = self
    var z = seed &+ (UInt64(index) &+ 1) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    options.seed = z ^ (z >> 31)
    return options
  }
}

/// Chooses tokens from logits with `SamplingOptions`; owns the seeded generator.
public struct Sampler: Sendable {
  /// The settings.
  public let options: SamplingOptions
  private var rng: PhiloxRNG

  /// A sampler seeded from `options.seed`.
  public init(_ options: SamplingOptions) {
    precondition(options.temperature > 0, "Sampler: temperature \(options.temperature) ≤ 0")
    precondition(options.topK >= 0, "Sampler: topK \(options.topK) < 0")
    precondition(options.topP > 0 && options.topP <= 1, "Sampler: topP \(options.topP) ∉ (0, 1]")
    precondition(options.repetitionPenalty > 0, "Sampler: repetition penalty ≤ 0")
    self.options = options
    rng = PhiloxRNG(seed: options.seed)
  }

  /// The next token given one row of logits and the tokens so far (for the repetition penalty).
  public mutating func next(logits row: [Float], history: [Int32]) -> Int32 {
    var logits = row
    if options.repetitionPenalty != 1 {
      var seen = Set<Int32>()
      for token in history where seen.insert(token).inserted {
        let i = Int(token)
        guard i >= 0 && i < logits.count else { continue }
        logits[i] =
          logits[i] > 0
          ? logits[i] / options.repetitionPenalty : logits[i] * options.repetitionPenalty
      }
    }
    if options.greedy { return Int32(Self.argmax(logits)) }

    // Order as transformers' sampling processors: temperature, top-k, top-p.
    let scaled = logits.map { $0 / options.temperature }
    let limit = options.topK > 0 ? min(options.topK, scaled.count) : scaled.count
    var candidates = Self.descendingOrder(scaled, limit: limit)
    let top = scaled[candidates[0]]
    var probabilities = candidates.map { Double(expf(scaled[$0] - top)) }
    var total = probabilities.reduce(0, +)
    if options.topP < 1 {
      var cumulative = 0.0
      var keep = probabilities.count
      for (i, p) in probabilities.enumerated() {
        cumulative += p / total
        if cumulative >= Double(options.topP) {
          keep = i + 1
          break
        }
      }
      probabilities.removeSubrange(keep...)
      candidates.removeSubrange(keep...)
      total = probabilities.reduce(0, +)
    }
    let draw = Double(rng.nextUniform()) * total
    var cumulative = 0.0
    for (i, p) in probabilities.enumerated() {
      cumulative += p
      if draw < cumulative { return Int32(candidates[i]) }
    }
    return Int32(candidates[candidates.count - 1])
  }

  /// The indices of the `limit` largest values, largest first, equal values by index.
  ///
  /// Each value and its index are packed into one integer key that orders as
  /// (value descending, index ascending), so the order is a plain integer sort; a `limit`
  /// below the count keeps a heap of the `limit` best keys instead of sorting everything.
  static func descendingOrder(_ values: [Float], limit: Int) -> [Int] {
    precondition(values.count <= Int(UInt32.max), "Sampler: vocabulary too large")
    func key(_ index: Int) -> UInt64 {
      let bits = (values[index] + 0).bitPattern  // -0 as +0, which compares equal to it
      let ascending = bits & 0x8000_0000 != 0 ? ~bits : bits | 0x8000_0000
      return UInt64(~ascending) << 32 | UInt64(index)
    }
    var keys: [UInt64]
    if limit * 8 < values.count {
      // A max-heap of the `limit` smallest keys.
      keys = []
      keys.reserveCapacity(limit)
      for index in values.indices {
        let candidate = key(index)
        if keys.count < limit {
          keys.append(candidate)
          var child = keys.count - 1
          while child > 0 {
            let parent = (child - 1) / 2
            guard keys[parent] < keys[child] else { break }
            keys.swapAt(parent, child)
            child = parent
          }
        } else if candidate < keys[0] {
          keys[0] = candidate
          var parent = 0
          while true {
            let left = 2 * parent + 1
            guard left < limit else { break }
            let right = left + 1
            let larger = right < limit && keys[right] > keys[left] ? right : left
            guard keys[larger] > keys[parent] else { break }
            keys.swapAt(parent, larger)
            parent = larger
          }
        }
      }
      keys.sort()
    } else {
      keys = values.indices.map(key)
      radixSort(&keys)
      keys.removeSubrange(limit...)
    }
    return keys.map { Int($0 & 0xFFFF_FFFF) }
  }

  /// Sorts `keys` ascending, a byte at a time from the lowest (bytes that every key shares
  /// are skipped): linear in the count, where a comparison sort of a 150,000-token vocabulary
  /// costs milliseconds per token.
  static func radixSort(_ keys: inout [UInt64]) {
    guard keys.count > 64 else {
      keys.sort()
      return
    }
    let n = keys.count
    var other = [UInt64](repeating: 0, count: n)
    // The counts of all eight bytes in one pass over the keys.
    var counts = [Int](repeating: 0, count: 8 * 256)
    counts.withUnsafeMutableBufferPointer { counts in
      keys.withUnsafeBufferPointer { source in
        for key in source {
          for byte in 0..<8 {
            counts[byte << 8 | Int(truncatingIfNeeded: key >> UInt64(8 * byte)) & 0xFF] += 1
          }
        }
      }
      for byte in 0..<8 {
        let digits = UnsafeMutableBufferPointer(rebasing: counts[(byte << 8)..<((byte + 1) << 8)])
        // A byte that every key shares leaves the order as it is.
        if digits.contains(n) { continue }
        var total = 0
        for i in digits.indices {
          let count = digits[i]
          digits[i] = total
          total += count
        }
        keys.withUnsafeBufferPointer { source in
          other.withUnsafeMutableBufferPointer { target in
            for key in source {
              let digit = Int(truncatingIfNeeded: key >> UInt64(8 * byte)) & 0xFF
              target[digits[digit]] = key
              digits[digit] += 1
            }
          }
        }
        swap(&keys, &other)
      }
    }
  }

  /// Index of the largest logit (the first on ties).
  static func argmax(_ logits: [Float]) -> Int {
    var best = 0
    for i in logits.indices where logits[i] > logits[best] { best = i }
    return best
  }
}

#if canImport(Glibc)
  import Glibc
#endif
