import MiniTensor

/// Prefill and decode rates of a model at batch 1 (`minillm bench generate`): random prompt
/// ids, greedy decoding with no stop token, after one short warm-up.
package struct GenerationBenchmark {
  /// The model run (dense or quantised).
  package let model: Llama
  package let promptTokens: Int
  package let newTokens: Int

  package init(model: Llama, promptTokens: Int, newTokens: Int) {
    self.model = model
    self.promptTokens = promptTokens
    self.newTokens = newTokens
  }

  /// Runs `repeats` generations.
  /// - Returns: per run, prefill tokens/s (the prompt over the time to the first new token)
  ///   and decode tokens/s (the tokens after the first over their time); and the last output.
  package func run(repeats: Int) -> (prefill: [Double], decode: [Double], output: [Int32]) {
    var rng = PhiloxRNG(seed: 2)
    let prompt = (0..<promptTokens).map { _ in
      Int32(rng.nextUInt32() % UInt32(model.config.vocabSize))
    }
    let options = GenerationOptions(maxNewTokens: newTokens)
    _ = model.generate(prompt: prompt, options: GenerationOptions(maxNewTokens: 4))  // warm-up
    var prefill: [Double] = []
    var decode: [Double] = []
    var output: [Int32] = []
    for _ in 0..<repeats {
      let start = BenchClock.now()
      var stamps: [Double] = []
      stamps.reserveCapacity(newTokens)
      output = model.generate(prompt: prompt, options: options) { _ in
        stamps.append(BenchClock.now())
        return true
      }
      prefill.append(Double(promptTokens) / (stamps[0] - start))
      decode.append(Double(stamps.count - 1) / (stamps[stamps.count - 1] - stamps[0]))
    }
    return (prefill, decode, output)
  }
}
