import ArgumentParser
import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTrain

struct TrainBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Tokens/s, GFLOP/s and MFU of full training steps on random tokens.",
    discussion: """
      Each step is forward, loss, backward, AdamW and zero-grad at the preset's batch and
      sequence length. FLOPs per token are 6·N + 12·L·d·T (N: all parameters but the input
      embedding). MFU is against a 2048³ sgemm measured in the same process.
      """)

  @Option(
    help: "Model preset (\(LlamaConfig.Preset.allCases.map(\.rawValue).joined(separator: ", "))).")
  var preset: LlamaConfig.Preset = .tiny

  @Option(help: "Timed steps.")
  var steps: Int = 10

  @Option(help: "Untimed warm-up steps.")
  var warmup: Int = 2

  @Option(help: "Sequences per step (default: the preset's).")
  var batchSize: Int?

  @Option(help: "Tokens per sequence (default: the preset's).")
  var seqLen: Int?

  @Option(help: "Seconds of sgemm calls for the GEMM peak.")
  var gemmSeconds: Double = 2

  @Flag(
    help: """
      Time every matrix product of the timed steps by shape and print the table (seconds per step \
      summed over threads, GFLOP/s per call); adds "gemm_profile" to the JSON.
      """)
  var gemmProfile = false

  @OptionGroup var threadOptions: ThreadOptions

  func run() throws {
    try threadOptions.apply()
    guard steps >= 1, warmup >= 0 else {
      throw CommandLineError("--steps must be ≥ 1 and --warmup ≥ 0")
    }
    var config = LlamaConfig.preset(preset)
    let batch = batchSize ?? preset.batchSize
    let sequence = seqLen ?? preset.sequenceLength
    guard batch >= 1, sequence >= 2 else {
      throw CommandLineError("--batch-size must be ≥ 1 and --seq-len ≥ 2")
    }
    config.maxPositions = max(config.maxPositions, sequence)
    let model = Llama(config: config, seed: 0)
    var optimizer = AdamW()
    var rng = PhiloxRNG(seed: 1)
    let tokens = (0..<(batch * sequence)).map { _ in
      Int32(rng.nextUInt32() % UInt32(config.vocabSize))
    }

    var samples:
      [(total: Double, forward: Double, backward: Double, optimizer: Double, zero: Double)] = []
    var losses: [Float] = []
    var usage: [(cpuSeconds: Double, minorFaults: Int)] = []
    var cacheMisses: [Double] = []
    let probe = LoadProbe()
    for index in 0..<(warmup + steps) {
      if index == warmup {
        if gemmProfile { GEMMProfile.begin() }
        samples.removeAll()
        usage.removeAll()
        cacheMisses.removeAll()
      }
      let misses0 = Tensor.bufferStatistics.misses
      let usage0 = BenchClock.ownUsage()
      let t0 = BenchClock.now()
      let tape = Tape()
      let loss = model.languageModelLoss(tokens, batch: batch, tape: tape)
      let lossValue = loss.value.scalars[0]
      let t1 = BenchClock.now()
      tape.backward(from: loss)
      let t2 = BenchClock.now()
      optimizer.update(model.arena)
      let t3 = BenchClock.now()
      model.arena.zeroGradients()
      let t4 = BenchClock.now()
      let usage1 = BenchClock.ownUsage()
      samples.append((t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3))
      usage.append((usage1.cpuSeconds - usage0.cpuSeconds, usage1.minorFaults - usage0.minorFaults))
      cacheMisses.append(Double(Tensor.bufferStatistics.misses - misses0))
      losses.append(lossValue)
    }
    let profile = gemmProfile ? GEMMProfile.end() : []
    let foreign = probe.foreignCores()
    let peakRSS = BenchClock.peakRSSMegabytes()
    let gemmPeak = measureGemmPeak(seconds: gemmSeconds)

    let step = BenchClock.summary(samples.map(\.total))
    let phase = {
      (
        key: KeyPath<
          (total: Double, forward: Double, backward: Double, optimizer: Double, zero: Double),
          Double
        >
      ) in
      BenchClock.summary(samples.map { $0[keyPath: key] }).median
    }
    let cpuPerStep = BenchClock.summary(usage.map(\.cpuSeconds)).median
    let faultsPerStep = BenchClock.summary(usage.map { Double($0.minorFaults) }).median
    let missesPerStep = BenchClock.summary(cacheMisses).median
    let tokensPerStep = Double(batch * sequence)
    let n = Double(
      config.parameterCount - (config.tieWordEmbeddings ? 0 : config.vocabSize * config.hiddenSize))
    let flopsPerToken =
      6 * n + 12 * Double(config.layerCount * config.headCount * config.headDim * sequence)
    let tokensPerSecond = tokensPerStep / step.median
    let gflops = flopsPerToken * tokensPerSecond * 1e-9
    let memory = Self.memoryEstimateMegabytes(config: config, batch: batch, sequence: sequence)

    print(
      "preset \(preset.rawValue): \(config.parameterCount) parameters, batch \(batch) × seq \(sequence), threads \(threadCount())"
    )
    print("OpenBLAS core: \(BLASCore.description)")
    print(
      String(
        format: "step      %.3f s median (min %.3f, max %.3f) over %d steps after %d warm-up",
        step.median, step.min, step.max, steps, warmup))
    print(
      String(
        format: "  forward+loss %.3f s   backward %.3f s   adamw %.3f s   zero-grad %.4f s",
        phase(\.forward), phase(\.backward), phase(\.optimizer), phase(\.zero)))
    print(
      String(
        format:
          "  CPU time %.3f s per step (both threads);  %.0f minor page faults, %.0f new tensor buffers per step",
        cpuPerStep, faultsPerStep, missesPerStep))
    print(
      String(
        format: "tokens/s  %.1f (min %.1f, max %.1f)", tokensPerSecond, tokensPerStep / step.max,
        tokensPerStep / step.min))
    print(
      String(
        format: "GFLOP/s   %.1f at %.1f MFLOP/token;  GEMM peak %.1f GFLOP/s (2048³);  MFU %.2f",
        gflops, flopsPerToken * 1e-6, gemmPeak, gflops / gemmPeak))
    print(
      String(
        format:
          "peak RSS  %.0f MiB (estimate of what the step must hold: %.0f MiB = weights, grads, 2 moments %.0f + activations %.0f)",
        peakRSS, memory.total, memory.state, memory.activations))
    print(
      String(
        format: "loss      %.4f → %.4f;  other processes used %.2f cores meanwhile",
        losses.first ?? 0, losses.last ?? 0, foreign))
    if gemmProfile {
      Self.printProfile(profile, steps: steps, stepSeconds: step.median)
    }
    var json: [String: Any] = [
      "benchmark": "train", "preset": preset.rawValue, "batch": batch, "seq_len": sequence,
      "threads": threadCount(), "steps": steps, "warmup": warmup,
      "parameters": config.parameterCount, "flops_per_token": flopsPerToken,
      "step_s_median": rounded(step.median, 4), "step_s_min": rounded(step.min, 4),
      "step_s_max": rounded(step.max, 4), "forward_s": rounded(phase(\.forward), 4),
      "backward_s": rounded(phase(\.backward), 4), "optimizer_s": rounded(phase(\.optimizer), 4),
      "zero_grad_s": rounded(phase(\.zero), 5), "cpu_s_per_step": rounded(cpuPerStep, 4),
      "minor_faults_per_step": faultsPerStep, "buffer_misses_per_step": missesPerStep,
      "tokens_per_s": rounded(tokensPerSecond, 1), "gflops": rounded(gflops, 1),
      "gemm_peak_gflops": rounded(gemmPeak, 1), "mfu": rounded(gflops / gemmPeak, 3),
      "peak_rss_mb": rounded(peakRSS, 1), "estimated_memory_mb": rounded(memory.total, 1),
      "loss_first": Double(losses.first ?? 0), "loss_last": Double(losses.last ?? 0),
      "foreign_cores": rounded(foreign, 2), "blas_core": blasCoreName(),
    ]
    if gemmProfile {
      json["gemm_profile"] = profile.map { entry -> [String: Any] in
        [
          "layout": entry.layout, "m": entry.m, "n": entry.n, "k": entry.k,
          "calls_per_step": Double(entry.calls) / Double(steps),
          "seconds_per_step": rounded(entry.seconds / Double(steps), 5),
          "gflops": rounded(entry.gflops, 1),
        ]
      }
    }
    try printJSONLine(json)
  }

  /// The per-shape GEMM table of `--gemm-profile`: products of the largest shares first, then
  /// the total against the step's wall time.
  static func printProfile(_ profile: [GEMMProfile.Entry], steps: Int, stepSeconds: Double) {
    print("GEMMs by shape (per step; seconds summed over the threads that ran them):")
    print("  layout        m ×      n ×      k   calls   seconds   GFLOP/s")
    for entry in profile {
      print(
        String(
          format: "  %@   %6d × %6d × %6d %7.1f %9.4f %9.1f", entry.layout, entry.m, entry.n,
          entry.k, Double(entry.calls) / Double(steps), entry.seconds / Double(steps),
          entry.gflops))
    }
    let seconds = profile.reduce(0) { $0 + $1.seconds } / Double(steps)
    let flops = profile.reduce(0) { $0 + $1.flops } / Double(steps)
    print(
      String(
        format:
          "  all products: %.3f s (summed over threads), %.1f GFLOP, %.1f GFLOP/s;  step %.3f s",
        seconds, flops * 1e-9, seconds > 0 ? flops / seconds * 1e-9 : 0, stepSeconds))
  }

  /// What a step must hold, in MiB: values, gradients and AdamW's two moments of every
  /// parameter, plus the activations the tape saves for the backward (per layer: the block
  /// inputs, norms, q/k/v before and after RoPE, attention probabilities `H·T` per row, the
  /// attention output, gate, up and SwiGLU output; then the logits and their gradient).
  static func memoryEstimateMegabytes(config: LlamaConfig, batch: Int, sequence: Int) -> (
    total: Double, state: Double, activations: Double
  ) {
    let rows = Double(batch * sequence)
    let d = Double(config.hiddenSize)
    let kv = Double(config.kvHeadCount * config.headDim)
    let f = Double(config.intermediateSize)
    let perRowPerLayer = 7 * d + 4 * kv + 3 * f + Double(config.headCount * sequence)
    let activations =
      (rows * perRowPerLayer * Double(config.layerCount) + 2 * rows * Double(config.vocabSize)) * 4
    let state = Double(config.parameterCount) * 4 * 4
    let mib = 1024.0 * 1024.0
    return ((state + activations) / mib, state / mib, activations / mib)
  }
}
