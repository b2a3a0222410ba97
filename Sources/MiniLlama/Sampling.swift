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
    var candidates = logits.indices.map { (index: $0, logit: logits[$0] / options.temperature) }
    candidates.sort { $0.logit > $1.logit || ($0.logit == $1.logit && $0.index < $1.index) }
    if options.topK > 0 && options.topK < candidates.count {
      candidates.removeSubrange(options.topK...)
    }
    let top = candidates[0].logit
    var probabilities = candidates.map { Double(expf($0.logit - top)) }
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
      if draw < cumulative { return Int32(candidates[i].index) }
    }
    return Int32(candidates[candidates.count - 1].index)
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
