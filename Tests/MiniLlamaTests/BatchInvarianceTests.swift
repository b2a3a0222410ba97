import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// Same sequence, same bits, whatever shares the decoding step: a sequence's logits from
/// `decodeStep` are bitwise equal decoded alone or beside 1…15 other sequences (every group
/// size of the multi-row kernels and partial groups), for `Float`, q8_0 and GGUF q8_0 and q4_0
/// weights, on whichever kernels the process runs (scripts/test-cores repeats the suite with
/// `MINILLM_TEST_KERNELS=portable`, OpenBLAS's Haswell and SkylakeX kernels and one thread);
/// and `generate` gives the tokens that sequence gets when decoded in a batch.
@Suite("Batch-invariant decoding")
struct BatchInvarianceTests {
  /// A tied model of widths whole q8_0 blocks, with the test tokenizer (for the GGUF export).
  static func directory() throws -> String {
    try GGUFQuantizedTests.directory(tied: true, seed: 9).path
  }

  static func models() throws -> [(name: String, model: Llama)] {
    let path = try directory()
    let dense = try Llama(directory: path)
    let folder = try temporaryDirectory("batch-invariance")
    try ModelDirectory(path: path).exportGGUF(
      to: folder + "/q8.gguf", options: GGUFExportOptions(type: .q8_0))
    let blocks = try Llama.forInference(directory: folder + "/q8.gguf")
    #expect(Set(blocks.linearWeights.map(\.formatName)) == ["q8_0"])
    try ModelDirectory(path: path).exportGGUF(
      to: folder + "/q4.gguf", options: GGUFExportOptions(type: .q4_0))
    let nibbles = try Llama.forInference(directory: folder + "/q4.gguf")
    #expect(Set(nibbles.linearWeights.map(\.formatName)).contains("q4_0"))
    return [
      ("f32", dense), ("q8_0", dense.quantized()), ("gguf q8_0", blocks), ("gguf q4_0", nibbles),
    ]
  }

  /// Sixteen prompts of different lengths.
  static let prompts: [[Int32]] = (0..<16).map { (i: Int) -> [Int32] in
    let length = 1 + (i * 5) % 11
    return (0..<length).map { (j: Int) -> Int32 in Int32(3 + (i * 37 + j * 11) % 250) }
  }

  @Test func rowsAreTheSameBitsInEveryBatch() throws {
    for (name, model) in try Self.models() {
      // The prompts enter their caches through decodeStep one token at a time: a prompt's
      // prefill multiplies with OpenBLAS, whose kernels may change when other threads (tests
      // running alongside) call it at the same moment.
      func prefilled(_ i: Int) -> KVCache {
        let cache = KVCache(config: model.config, capacity: 32)
        for token in Self.prompts[i] { _ = model.decodeStep([token], caches: [cache]) }
        return cache
      }
      let next = (0..<16).map { Int32(5 + 13 * $0) }
      let alone = (0..<16).map { i in
        model.decodeStep([next[i]], caches: [prefilled(i)]).scalars.map(\.bitPattern)
      }
      for size in 2...16 {
        // Each batch starts at another sequence, so every sequence sits at several rows.
        let group = (0..<size).map { (size * 5 + $0) % 16 }
        let logits = model.decodeStep(group.map { next[$0] }, caches: group.map(prefilled))
        #expect(logits.shape == [size, model.config.vocabSize])
        for (row, i) in group.enumerated() {
          #expect(
            logits[row: row].scalars.map(\.bitPattern) == alone[i],
            "\(name): sequence \(i) at row \(row) of \(size)")
        }
      }
    }
  }

  /// On GGUF blocks, whose prefill of a short prompt runs on the integer kernels (the `Float`
  /// models' prefill multiplies with OpenBLAS, whose kernels may change when tests running
  /// alongside call it at the same moment).
  @Test func generateGivesTheTokensOfABatchedSequence() throws {
    for (name, model) in try Self.models() where name == "gguf q8_0" {
      let sampling = (0..<6).map { i in
        SamplingOptions(temperature: 0.9, topK: 40, seed: 100 + UInt64(i))
      }
      let count = 12
      let expected = (0..<6).map { i in
        model.generate(
          prompt: Self.prompts[i],
          options: GenerationOptions(maxNewTokens: count, sampling: sampling[i]))
      }
      // The six decoded together, each with its own cache and sampler; the last three join
      // two steps late, as clients arriving while others decode.
      var samplers = sampling.map(Sampler.init)
      var caches: [KVCache] = []
      var tokens = [[Int32]](repeating: [], count: 6)
      func join(_ i: Int) {
        let cache = model.makeCache(capacity: Self.prompts[i].count + count)
        let logits = model.prefill(Self.prompts[i], cache: cache)
        tokens[i].append(samplers[i].next(logits: logits, history: Self.prompts[i]))
        caches.append(cache)
      }
      for i in 0..<3 { join(i) }
      var step = 0
      while tokens.contains(where: { $0.count < count }) {
        if step == 2 { for i in 3..<6 { join(i) } }
        let active = caches.indices.filter { tokens[$0].count < count }
        let logits = model.decodeStep(
          active.map { tokens[$0].last! }, caches: active.map { caches[$0] })
        for (row, i) in active.enumerated() {
          tokens[i].append(
            samplers[i].next(logits: logits[row: row].scalars, history: Self.prompts[i] + tokens[i])
          )
        }
        step += 1
      }
      #expect(tokens == expected, "\(name)")
    }
  }
}
