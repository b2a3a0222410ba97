import Foundation
import MiniLlama
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
