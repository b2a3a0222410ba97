import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import TestSupport
import Testing

@Suite("Llama behaviour")
struct LlamaBehaviourTests {
  static func smallConfig(tied: Bool = false, kvHeads: Int = 2) -> LlamaConfig {
    LlamaConfig(
      vocabSize: 53, hiddenSize: 24, intermediateSize: 40, layerCount: 2, headCount: 4,
      kvHeadCount: kvHeads, maxPositions: 48, rmsNormEps: 1e-5, ropeTheta: 10_000,
      tieWordEmbeddings: tied, initializerRange: 0.2)
  }

  @Test(arguments: [false, true])
  func cachedSamplingEqualsRecomputingEveryStep(tied: Bool) {
    let model = Llama(config: Self.smallConfig(tied: tied), seed: 3)
    let prompt: [Int32] = [5, 17, 2, 40, 11]
    let sampling = SamplingOptions(
      temperature: 0.9, topK: 20, topP: 0.95, repetitionPenalty: 1.1, seed: 9)
    let cached = model.generate(
      prompt: prompt, options: GenerationOptions(maxNewTokens: 20, sampling: sampling))
    // The same sampler fed logits recomputed from the whole sequence each step.
    var sampler = Sampler(sampling)
    var sequence = prompt
    var recomputed: [Int32] = []
    for _ in 0..<20 {
      let token = sampler.next(logits: model.nextTokenLogits(sequence), history: sequence)
      recomputed.append(token)
      sequence.append(token)
    }
    #expect(cached == recomputed)
  }

  @Test func cachedLogitsEqualFullForward() {
    let model = Llama(config: Self.smallConfig(), seed: 4)
    let tokens: [Int32] = (0..<12).map { Int32(($0 * 7 + 3) % 53) }
    let full = model(tokens).value.reshaped([12, 53])
    let cache = KVCache(config: model.config)
    let prefix = model(Array(tokens[0..<5]), cache: cache).value.reshaped([5, 53])
    expectClose(prefix.scalars, full.sliced(0..<5).scalars, rtol: 0, atol: 1e-5)
    for t in 5..<12 {
      let step = model([tokens[t]], cache: cache).value.reshaped([53])
      // Tolerance: 1e-5 absolute between the cached step and the full forward.
      expectClose(step.scalars, full[row: t].scalars, rtol: 0, atol: 1e-5, "position \(t)")
    }
    #expect(cache.length == 12)
  }

  @Test func batchedForwardEqualsRowByRow() {
    let model = Llama(config: Self.smallConfig(kvHeads: 1), seed: 5)
    let rows: [[Int32]] = [[1, 2, 3, 4, 5, 6], [50, 40, 30, 20, 10, 0], [7, 7, 7, 7, 7, 7]]
    let batched = model(rows.flatMap { $0 }, batch: 3).value
    for (i, row) in rows.enumerated() {
      expectClose(batched[row: i].scalars, model(row).value[row: 0].scalars, rtol: 0, atol: 1e-5)
    }
  }

  @Test func lossGradientPassesFiniteDifferences() {
    let model = Llama(config: Self.smallConfig(tied: true), seed: 6)
    let tokens: [Int32] = [3, 9, 27, 28, 31, 40, 12, 1, 9, 9]
    model.arena.zeroGradients()
    _ = model.valueAndGradient { tape in model.languageModelLoss(tokens, batch: 2, tape: tape) }
    var rng = PhiloxRNG(seed: 77)
    var checked = 0
    for parameter in model.arena.parameters {
      let analytic = parameter.gradient.scalars
      for _ in 0..<3 {
        let i = Int(rng.nextUInt32() % UInt32(parameter.count))
        let original = parameter.value.scalars[i]
        func loss(_ value: Float) -> Double {
          var values = parameter.value.scalars
          values[i] = value
          parameter.assign(Tensor(values, shape: parameter.shape))
          return Double(model.languageModelLoss(tokens, batch: 2).value.item)
        }
        let h: Float = 1e-2
        let numeric = (loss(original + h) - loss(original - h)) / Double(2 * h)
        _ = loss(original)
        // Tolerance: 2e-3 absolute + 2% relative (Float32 loss, step 1e-2).
        #expect(
          abs(Double(analytic[i]) - numeric) <= 2e-3 + 0.02 * abs(numeric),
          "\(parameter.name)[\(i)]: analytic \(analytic[i]) vs numeric \(numeric)")
        checked += 1
      }
    }
    #expect(checked == 3 * model.arena.parameters.count)
  }

  @Test func freshModelsFollowNanoGPTInitialisation() {
    let config = LlamaConfig.preset(.nano, vocabSize: 512)
    let model = Llama(config: config, seed: 1)
    func std(_ name: String) -> Float {
      let values = model.arena.parameter(named: name)!.value.scalars
      let mean = values.reduce(0, +) / Float(values.count)
      return (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Float(values.count))
        .squareRoot()
    }
    // 0.02 for projections and embeddings; 0.02/sqrt(2·4 layers) for o_proj and down_proj.
    #expect(abs(std("model.layers.0.self_attn.q_proj.weight") - 0.02) < 0.001)
    #expect(abs(std("model.layers.3.mlp.down_proj.weight") - 0.02 / Float(8).squareRoot()) < 0.0005)
    #expect(model.arena.parameter(named: "model.norm.weight")!.value.scalars.allSatisfy { $0 == 1 })
    #expect(model.parameterCount == config.parameterCount)
    #expect(Llama(config: config, seed: 1).arena.values == model.arena.values)
  }
}
