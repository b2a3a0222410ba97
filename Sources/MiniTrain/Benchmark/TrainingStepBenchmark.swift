import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor

/// Full training steps of a Llama on random tokens, timed phase by phase (`minillm bench
/// train`): forward and loss, backward, AdamW, zero-grad, with the process's CPU time, page
/// faults and new tensor buffers per step.
package struct TrainingStepBenchmark {
  /// Seconds of one step and of its phases.
  package struct Sample {
    package var total = 0.0
    package var forward = 0.0
    package var backward = 0.0
    package var optimizer = 0.0
    package var zero = 0.0
    package var cpuSeconds = 0.0
    package var minorFaults = 0.0
    package var bufferMisses = 0.0
  }

  package let config: LlamaConfig
  package let batch: Int
  package let sequence: Int
  /// Adapters trained on the frozen model instead of the model itself (a LoRA step), or `nil`.
  package let lora: LoRAConfiguration?

  /// A benchmark of `config` (its context widened to `sequence`) on `batch × sequence` tokens.
  /// - Parameter lora: when given, each step trains adapters of these settings on the frozen
  ///   model (as PEFT's `get_peft_model` does), and AdamW updates the adapters alone.
  package init(
    config: LlamaConfig, batch: Int, sequence: Int, lora: LoRAConfiguration? = nil
  ) {
    var config = config
    config.maxPositions = max(config.maxPositions, sequence)
    self.config = config
    self.batch = batch
    self.sequence = sequence
    self.lora = lora
  }

  /// The model a step trains and the arena AdamW updates: the model itself, or its adapters.
  func trainee() -> (model: Llama, arena: ParameterArena) {
    let model = Llama(config: config, seed: 0)
    guard let lora else { return (model, model.arena) }
    let adapted = LoRAModel(base: model, configuration: lora, seed: 2)
    return (adapted.model, adapted.arena)
  }

  /// Elements of the trained parameters (every parameter, or the adapters').
  package var trainedParameterCount: Int {
    guard let lora else { return config.parameterCount }
    return loraParameterCount(lora)
  }

  /// Elements of the adapters `lora` puts on this model's projections: `r · (in + out)` each.
  func loraParameterCount(_ lora: LoRAConfiguration) -> Int {
    let d = config.hiddenSize
    let kv = config.kvHeadCount * config.headDim
    let q = config.headCount * config.headDim
    let f = config.intermediateSize
    let shapes: [String: (Int, Int)] = [
      "q_proj": (d, q), "k_proj": (d, kv), "v_proj": (d, kv), "o_proj": (q, d),
      "gate_proj": (d, f), "up_proj": (d, f), "down_proj": (f, d),
    ]
    let perLayer = lora.targets.reduce(0) { sum, name in
      sum + lora.rank * ((shapes[name]?.0 ?? 0) + (shapes[name]?.1 ?? 0))
    }
    return perLayer * config.layerCount
  }

  /// Runs `warmup` untimed steps, then `steps` timed ones.
  /// - Parameter profile: whether to time every matrix product of the timed steps.
  /// - Returns: the timed steps, the loss of every step, and the GEMM profile.
  package func run(steps: Int, warmup: Int, profile: Bool) -> (
    samples: [Sample], losses: [Float], profile: [GEMMProfile.Entry]
  ) {
    let (model, arena) = trainee()
    var optimizer = AdamW()
    var rng = PhiloxRNG(seed: 1)
    let tokens = (0..<(batch * sequence)).map { _ in
      Int32(rng.nextUInt32() % UInt32(config.vocabSize))
    }
    var samples: [Sample] = []
    var losses: [Float] = []
    for index in 0..<(warmup + steps) {
      if index == warmup {
        if profile { GEMMProfile.begin() }
        samples.removeAll()
      }
      let misses0 = Tensor.bufferStatistics.misses
      let usage0 = BenchClock.ownUsage()
      let t0 = BenchClock.now()
      let tape = Tape()
      let loss = model.languageModelLoss(tokens, batch: batch, tape: tape)
      losses.append(loss.value.scalars[0])
      let t1 = BenchClock.now()
      tape.backward(from: loss)
      let t2 = BenchClock.now()
      optimizer.update(arena)
      let t3 = BenchClock.now()
      arena.zeroGradients()
      let t4 = BenchClock.now()
      let usage1 = BenchClock.ownUsage()
      samples.append(
        Sample(
          total: t4 - t0, forward: t1 - t0, backward: t2 - t1, optimizer: t3 - t2, zero: t4 - t3,
          cpuSeconds: usage1.cpuSeconds - usage0.cpuSeconds,
          minorFaults: Double(usage1.minorFaults - usage0.minorFaults),
          bufferMisses: Double(Tensor.bufferStatistics.misses - misses0)))
    }
    return (samples, losses, profile ? GEMMProfile.end() : [])
  }

  /// FLOPs per token: 6·N + 12·L·d·T (N: all parameters but the input embedding). A LoRA step
  /// computes no weight gradient of the frozen model: 4·N + 6·N_adapters + 12·L·d·T.
  package var flopsPerToken: Double {
    let n = Double(
      config.parameterCount - (config.tieWordEmbeddings ? 0 : config.vocabSize * config.hiddenSize))
    let attention = 12 * Double(config.layerCount * config.headCount * config.headDim * sequence)
    guard let lora else { return 6 * n + attention }
    return 4 * n + 6 * Double(loraParameterCount(lora)) + attention
  }

  /// What a step must hold, in MiB: values, gradients and AdamW's two moments of every trained
  /// parameter (and the values of a frozen model under adapters), plus the activations the tape
  /// saves for the backward (per layer: the block inputs, norms, q/k/v before and after RoPE,
  /// attention probabilities `H·T` per row, the attention output, gate, up and SwiGLU output,
  /// and each adapter's `r` intermediate values; then the logits and their gradient).
  package var memoryEstimateMegabytes: (total: Double, state: Double, activations: Double) {
    let rows = Double(batch * sequence)
    let d = Double(config.hiddenSize)
    let kv = Double(config.kvHeadCount * config.headDim)
    let f = Double(config.intermediateSize)
    let adapterValues = Double((lora?.rank ?? 0) * (lora?.targets.count ?? 0))
    let perRowPerLayer =
      7 * d + 4 * kv + 3 * f + Double(config.headCount * sequence) + adapterValues
    let activations =
      (rows * perRowPerLayer * Double(config.layerCount) + 2 * rows * Double(config.vocabSize)) * 4
    let frozen = lora == nil ? 0 : Double(config.parameterCount) * 4
    let state = frozen + Double(trainedParameterCount) * 4 * 4
    let mib = 1024.0 * 1024.0
    return ((state + activations) / mib, state / mib, activations / mib)
  }
}
