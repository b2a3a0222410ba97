import Foundation
import MiniLlama
import MiniTensor
import Testing

@Suite("Sampler")
struct SamplerTests {
  let logits: [Float] = [1.0, 3.0, 2.0, -1.0, 2.9]

  @Test func greedyAndTopOnePickTheArgmax() {
    var greedy = Sampler(.greedy)
    #expect(greedy.next(logits: logits, history: []) == 1)
    var topOne = Sampler(SamplingOptions(topK: 1, seed: 5))
    for _ in 0..<20 { #expect(topOne.next(logits: logits, history: []) == 1) }
  }

  @Test func repetitionPenaltyFollowsTransformers() {
    // 3.0 / 1.2 = 2.5 < 2.9: the penalised token loses the argmax.
    var sampler = Sampler(SamplingOptions(greedy: true, repetitionPenalty: 1.2))
    #expect(sampler.next(logits: logits, history: [1, 1]) == 4)
    // Negative logits are multiplied, so a penalised negative token gets less likely.
    var negative = Sampler(SamplingOptions(greedy: true, repetitionPenalty: 2))
    #expect(negative.next(logits: [-1, -1.5], history: [0]) == 1)
  }

  @Test func samplingMatchesTheSoftmaxAndIsSeeded() {
    let options = SamplingOptions(temperature: 0.7, seed: 42)
    var sampler = Sampler(options)
    var again = Sampler(options)
    var counts = [Int](repeating: 0, count: logits.count)
    let draws = 20000
    for _ in 0..<draws {
      let token = sampler.next(logits: logits, history: [])
      #expect(token == again.next(logits: logits, history: []))
      counts[Int(token)] += 1
    }
    let scaled = logits.map { Double($0 / 0.7) }
    let top = scaled.max()!
    let weights = scaled.map { exp($0 - top) }
    let total = weights.reduce(0, +)
    for i in logits.indices {
      let expected = weights[i] / total
      let observed = Double(counts[i]) / Double(draws)
      // Four binomial standard deviations.
      let sigma = (expected * (1 - expected) / Double(draws)).squareRoot()
      #expect(
        abs(observed - expected) <= 4 * sigma + 1e-4, "token \(i): \(observed) vs \(expected)")
    }
  }

  @Test func topPAndTopKCutTheTail() {
    // Probabilities at temperature 1: token 1 ≈ 0.38, 4 ≈ 0.35, 2 ≈ 0.14, 0 ≈ 0.05, 3 ≈ 0.007.
    var nucleus = Sampler(SamplingOptions(topP: 0.7, seed: 1))
    var topK = Sampler(SamplingOptions(topK: 3, seed: 2))
    for _ in 0..<2000 {
      #expect([1, 4].contains(nucleus.next(logits: logits, history: [])))
      #expect([1, 4, 2].contains(topK.next(logits: logits, history: [])))
    }
  }

  @Test func numberedSettingsKeepEverythingButTheSeed() {
    let base = SamplingOptions(temperature: 0.7, topK: 5, topP: 0.9, seed: 42)
    let seeds = (0..<64).map { base.numbered($0).seed }
    #expect(Set(seeds).count == 64)
    #expect(!seeds.contains(base.seed))
    #expect(base.numbered(3) == base.numbered(3))
    #expect(SamplingOptions(seed: 43).numbered(3).seed != base.numbered(3).seed)
    var other = base.numbered(7)
    other.seed = base.seed
    #expect(other == base)
  }
}

/// Sampling as it is written in words: every logit over the temperature, sorted by value
/// (ties by index), cut to top-k then top-p, drawn by cumulative probability with the same
/// generator. The sampler's integer-key sort and top-k heap must choose exactly these tokens.
private struct ReferenceSampler {
  let options: SamplingOptions
  var rng: PhiloxRNG

  init(_ options: SamplingOptions) {
    self.options = options
    rng = PhiloxRNG(seed: options.seed)
  }

  mutating func next(_ logits: [Float]) -> Int32 {
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
}

@Suite("Sampler against the plain sort")
struct SamplerOrderTests {
  @Test(arguments: [(0, Float(1)), (40, 1), (0, 0.9), (50, 0.95), (5000, 1), (1, 1)])
  func choosesWhatSortingEveryLogitChooses(topK: Int, topP: Float) {
    var state: UInt64 = 0x1234_5678
    func uniform() -> Float {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Float(state >> 40) / Float(1 << 24)
    }
    for round in 0..<40 {
      // A vocabulary with ties, signed zeros and negative values: logits rounded to a coarse
      // grid, so many are equal.
      let count = round % 2 == 0 ? 6400 : 257
      let logits = (0..<count).map { i -> Float in
        let value = (uniform() * 24 - 12).rounded() / 2
        return value == 0 && i % 2 == 1 ? -0.0 : value
      }
      let options = SamplingOptions(
        temperature: 0.8, topK: topK, topP: topP, seed: UInt64(round) &* 7919)
      var sampler = Sampler(options)
      var reference = ReferenceSampler(options)
      for _ in 0..<25 {
        #expect(
          sampler.next(logits: logits, history: []) == reference.next(logits),
          "top-k \(topK), top-p \(topP), round \(round)")
      }
    }
  }
}
