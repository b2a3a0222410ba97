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
      embedding). MFU is against a 2048³ sgemm measured in the same process ("mfu"), against the
      best of that and the model's largest product ("mfu_best_gemm"), and against the CPU's f32
      multiply-add peak measured on the same threads ("mfu_fma_peak").
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
    let batch = batchSize ?? preset.batchSize
    let sequence = seqLen ?? preset.sequenceLength
    guard batch >= 1, sequence >= 2 else {
      throw CommandLineError("--batch-size must be ≥ 1 and --seq-len ≥ 2")
    }
    let bench = TrainingStepBenchmark(
      config: LlamaConfig.preset(preset), batch: batch, sequence: sequence)
    let config = bench.config
    let probe = LoadProbe()
    let (samples, losses, profile) = bench.run(steps: steps, warmup: warmup, profile: gemmProfile)
    let foreign = probe.foreignCores()
    let peakRSS = BenchClock.peakRSSMegabytes()
    let gemmPeak = measureGemmPeak(seconds: gemmSeconds)
    // The model's own largest product (the MLP's up projection) may run faster than the square
    // one: the best of the two is the GEMM ceiling this step could reach.
    let modelShape = GemmShape(
      m: batch * sequence, n: config.intermediateSize, k: config.hiddenSize, layout: "NT")
    let modelGemm = modelShape.measure(minimumSeconds: gemmSeconds).median
    let bestGemm = max(gemmPeak, modelGemm)
    let fmaPeak = measureFMAPeak()
    let step = BenchClock.summary(samples.map(\.total))
    let phase = { (key: KeyPath<TrainingStepBenchmark.Sample, Double>) in
      BenchClock.summary(samples.map { $0[keyPath: key] }).median
    }
    let cpuPerStep = phase(\.cpuSeconds)
    let faultsPerStep = phase(\.minorFaults)
    let missesPerStep = phase(\.bufferMisses)
    let tokensPerStep = Double(batch * sequence)
    let flopsPerToken = bench.flopsPerToken
    let tokensPerSecond = tokensPerStep / step.median
    let gflops = flopsPerToken * tokensPerSecond * 1e-9
    let memory = bench.memoryEstimateMegabytes

    print(
      "preset \(preset.rawValue): \(config.parameterCount) parameters, batch \(batch) × seq \(sequence), threads \(threadCount())"
    )
    printComputeEnvironment()
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
          "MFU       %.3f of the f32 FMA peak (%.1f GFLOP/s on %d threads);  %.3f of the best GEMM (%.1f GFLOP/s; %d×%d×%d NT %.1f)",
        gflops / fmaPeak, fmaPeak, threadCount(), gflops / bestGemm, bestGemm, modelShape.m,
        modelShape.n, modelShape.k, modelGemm))
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
      "fma_peak_gflops": rounded(fmaPeak, 1), "mfu_fma_peak": rounded(gflops / fmaPeak, 3),
      "model_gemm_gflops": rounded(modelGemm, 1), "best_gemm_gflops": rounded(bestGemm, 1),
      "mfu_best_gemm": rounded(gflops / bestGemm, 3),
      "peak_rss_mb": rounded(peakRSS, 1), "estimated_memory_mb": rounded(memory.total, 1),
      "loss_first": Double(losses.first ?? 0), "loss_last": Double(losses.last ?? 0),
      "foreign_cores": rounded(foreign, 2),
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
}
