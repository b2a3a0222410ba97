import MiniAutograd
import MiniLlama
import MiniTensor
import TestSupport
import Testing

@Suite("Cached and quantized decoding")
struct LlamaDecodeTests {
  /// A seeded GQA model whose widths are whole q8_0 blocks.
  static func model() -> Llama {
    var config = LlamaConfig.preset(.nano, vocabSize: 96)
    config.hiddenSize = 64
    config.intermediateSize = 128
    config.layerCount = 2
    config.headCount = 4
    config.kvHeadCount = 2
    config.headDim = 16
    config.maxPositions = 64
    config.initializerRange = 0.2
    return Llama(config: config, seed: 7)
  }

  @Test func cachedDecodingEqualsRecomputation() {
    let model = Self.model()
    let tokens: [Int32] = [3, 17, 42, 8, 91, 5, 60, 33, 2, 77, 14]
    let cache = KVCache(config: model.config)
    // Prefill 4 tokens, then one token at a time (the decode kernel).
    var logits = model(Array(tokens[0..<4]), cache: cache).value.reshaped([-1, 96])[row: 3].scalars
    for end in 4...tokens.count {
      // Tolerance: 1e-4 absolute on every logit (different kernels, same math).
      expectClose(
        logits, model.nextTokenLogits(Array(tokens[0..<end])), rtol: 0, atol: 1e-4,
        "after \(end) tokens")
      if end == tokens.count { break }
      logits = model([tokens[end]], cache: cache).value.reshaped([-1, 96])[row: 0].scalars
    }
    #expect(cache.length == tokens.count)
  }

  @Test func batchedPrefillWithCacheEqualsRecomputation() {
    let model = Self.model()
    let tokens: [Int32] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
    let cache = KVCache(config: model.config, batch: 2, capacity: 10)
    _ = model(Array(tokens[0..<4] + tokens[6..<10]), batch: 2, cache: cache)
    let cached = model([tokens[4], tokens[5], tokens[10], tokens[11]], batch: 2, cache: cache)
      .value
    let full = model(tokens, batch: 2).value
    // Last two positions of each row; tolerance 1e-4 absolute.
    let vocab = 96
    for (b, rows) in [(0, 4..<6), (1, 4..<6)] {
      for (i, t) in rows.enumerated() {
        expectClose(
          cached.reshaped([-1, vocab])[row: b * 2 + i].scalars,
          full.reshaped([-1, vocab])[row: b * 6 + t].scalars, rtol: 0, atol: 1e-4)
      }
    }
  }

  @Test func quantizedLogitsStayCloseAndGreedyTokensAgree() {
    let model = Self.model()
    let q8 = model.quantized()
    #expect(q8.isQuantized && !model.isQuantized)
    #expect(q8.decodeWeightBytes * 3 < model.decodeWeightBytes)
    let prompt: [Int32] = [5, 9, 33, 70, 12]
    let reference = model.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 24))
    // Teacher-forced on the f32 continuation, so one flip does not derail the rest.
    let sequence = prompt + reference
    var agree = 0
    for end in prompt.count..<sequence.count {
      let exact = model.nextTokenLogits(Array(sequence[0..<end]))
      let approximate = q8.nextTokenLogits(Array(sequence[0..<end]))
      let scale = exact.map(abs).max() ?? 1
      // Tolerance: 8-bit weights (error ≤ 1/254 of each block's largest weight, compounded over
      // two layers and the head) move each logit by at most 5 % of the largest logit.
      expectClose(approximate, exact, rtol: 0, atol: 0.05 * scale, "position \(end)")
      let argmax = { (v: [Float]) in v.indices.max { v[$0] < v[$1] }! }
      if argmax(exact) == argmax(approximate) { agree += 1 }
    }
    // Argmax agreement on at least 22 of the 24 greedy positions.
    #expect(agree >= 22, "argmax agreement \(agree)/\(reference.count)")
  }

  @Test func quantizedFixtureKeepsTheGreedyTokens() throws {
    // hf-tiny-llama has 64-wide projections (q8_0) and a 176-wide down projection (kept f32).
    let fixture = try ParityFixture("hf-tiny-llama")
    let q8 = fixture.model.quantized()
    let sequence = fixture.prompt + fixture.greedy
    var agree = 0
    for end in fixture.prompt.count..<sequence.count {
      let logits = q8.nextTokenLogits(Array(sequence[0..<end]))
      let argmax = logits.indices.max { logits[$0] < logits[$1] }!
      if Int32(argmax) == sequence[end] { agree += 1 }
    }
    // Argmax agreement with transformers' greedy tokens on at least 90 % of the positions.
    #expect(
      agree * 10 >= fixture.greedy.count * 9, "argmax agreement \(agree)/\(fixture.greedy.count)")
  }
}
