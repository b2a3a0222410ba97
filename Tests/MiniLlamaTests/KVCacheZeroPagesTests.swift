import MiniLlama
import TestSupport
import Testing

@Suite("KVCache for a long context")
struct KVCacheZeroPagesTests {
  /// A cache for a 131,072-token context (32 MiB of keys per layer here, gigabytes for a real
  /// model's) holds only the pages its positions were written to, and gives the logits of a
  /// cache just large enough for the prompt.
  @Test func commitsOnlyThePositionsItHolds() {
    let config = LlamaConfig(
      vocabSize: 64, hiddenSize: 64, intermediateSize: 128, layerCount: 2, headCount: 8,
      kvHeadCount: 8, maxPositions: 131_072)
    let model = Llama(config: config, seed: 3)
    let prompt: [Int32] = [1, 5, 9, 12, 3]
    let long = model.makeCache()
    #expect(long.capacity == 131_072)
    let logits = model.prefill(prompt, cache: long)
    #expect(logits == model.prefill(prompt, cache: model.makeCache(capacity: prompt.count)))
    // 5 positions of 8 heads × 8 floats: 1,280 bytes, in one page or across two.
    let bytes = long.capacity * config.kvHeadCount * config.headDim * MemoryLayout<Float>.size
    for layer in 0..<config.layerCount {
      let resident = residentPages(long.keyBase(layer: layer), bytes: bytes)
      #expect(resident >= 1 && resident <= 2, "layer \(layer): \(resident) pages")
    }
  }
}
