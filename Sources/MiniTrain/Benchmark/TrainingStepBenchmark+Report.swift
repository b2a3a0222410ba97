import Foundation
import MiniTensor

extension TrainingStepBenchmark {
  /// The figures of a benchmark run as `minillm bench train` shows them: lines of text, then
  /// one JSON object (the contract of the benchmark scripts).
  package struct Report {
    /// The text lines, the GEMM table of a profiled run included.
    package var lines: [String]
    /// The figures: step and phase seconds, tokens/s, GFLOP/s, MFU, memory, losses, load.
    package var json: [String: Any]
  }

  /// Runs `warmup` untimed and `steps` timed steps, then measures the GEMM peak (a 2048³ sgemm
  /// for `gemmSeconds`) in the same process, and reports both.
  /// - Parameters:
  ///   - name: the preset's name.
  ///   - profile: whether to time every matrix product by shape (`gemm_profile`).
  ///   - blasCore: the OpenBLAS kernel set and how it was chosen, for the header.
  package func report(
    name: String, steps: Int, warmup: Int, profile: Bool, gemmSeconds: Double, blasCore: String
  ) -> Report {
    let probe = LoadProbe()
    let (samples, losses, products) = run(steps: steps, warmup: warmup, profile: profile)
    let foreign = probe.foreignCores()
    let peakRSS = BenchClock.peakRSSMegabytes()
    let gemmPeak = GemmShape(m: 2048, n: 2048, k: 2048, layout: "NN")
      .measure(minimumSeconds: gemmSeconds).median
    // The model's own largest product (the MLP's up projection) may run faster than the square
    // one: the best of the two is the GEMM ceiling this step could reach.
    let modelShape = GemmShape(
      m: batch * sequence, n: config.intermediateSize, k: config.hiddenSize, layout: "NT")
    let modelGemm = modelShape.measure(minimumSeconds: gemmSeconds).median
    let bestGemm = max(gemmPeak, modelGemm)
    let fmaPeak = measureFMAPeak()
    let step = BenchClock.summary(samples.map(\.total))
    let phase = { (key: KeyPath<Sample, Double>) in
      BenchClock.summary(samples.map { $0[keyPath: key] }).median
    }
    let (cpuPerStep, faultsPerStep, missesPerStep) = (
      phase(\.cpuSeconds), phase(\.minorFaults), phase(\.bufferMisses)
    )
    let tokensPerStep = Double(batch * sequence)
    let tokensPerSecond = tokensPerStep / step.median
    let gflops = flopsPerToken * tokensPerSecond * 1e-9
    let memory = memoryEstimateMegabytes
    let (firstLoss, lastLoss) = (losses.first ?? 0, losses.last ?? 0)
    let trained =
      lora.map {
        ", LoRA r \($0.rank) α \(formatted($0.alpha)) on \($0.targets.joined(separator: ","))"
          + " (\(trainedParameterCount) trained, the model frozen)"
      } ?? ""
    var lines = [
      "preset \(name): \(config.parameterCount) parameters\(trained), batch \(batch) × seq \(sequence), threads \(threadCount())",
      "OpenBLAS core: \(blasCore)", kernelEnvironmentLine(),
      String(
        format: "step      %.3f s median (min %.3f, max %.3f) over %d steps after %d warm-up",
        step.median, step.min, step.max, steps, warmup),
      String(
        format: "  forward+loss %.3f s   backward %.3f s   adamw %.3f s   zero-grad %.4f s",
        phase(\.forward), phase(\.backward), phase(\.optimizer), phase(\.zero)),
      String(
        format:
          "  CPU time %.3f s per step (both threads);  %.0f minor page faults, %.0f new tensor buffers per step",
        cpuPerStep, faultsPerStep, missesPerStep),
      String(
        format: "tokens/s  %.1f (min %.1f, max %.1f)", tokensPerSecond, tokensPerStep / step.max,
        tokensPerStep / step.min),
      String(
        format: "GFLOP/s   %.1f at %.1f MFLOP/token;  GEMM peak %.1f GFLOP/s (2048³);  MFU %.2f",
        gflops, flopsPerToken * 1e-6, gemmPeak, gflops / gemmPeak),
      String(
        format:
          "MFU       %.3f of the f32 FMA peak (%.1f GFLOP/s on %d threads);  %.3f of the best GEMM (%.1f GFLOP/s; %d×%d×%d NT %.1f)",
        gflops / fmaPeak, fmaPeak, threadCount(), gflops / bestGemm, bestGemm, modelShape.m,
        modelShape.n, modelShape.k, modelGemm),
      String(
        format:
          "peak RSS  %.0f MiB (estimate of what the step must hold: %.0f MiB = %@ %.0f + activations %.0f)",
        peakRSS, memory.total,
        lora == nil ? "weights, grads, 2 moments" : "frozen weights, adapters, grads, 2 moments",
        memory.state, memory.activations),
      String(
        format: "loss      %.4f → %.4f;  other processes used %.2f cores meanwhile", firstLoss,
        lastLoss, foreign),
    ]
    if profile { lines += Self.profileLines(products, steps: steps, stepSeconds: step.median) }
    var json: [String: Any] = [
      "benchmark": "train", "preset": name, "batch": batch, "seq_len": sequence,
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
      "loss_first": Double(firstLoss), "loss_last": Double(lastLoss),
      "foreign_cores": rounded(foreign, 2), "blas_core": blasCoreName(),
    ]
    json["trained_parameters"] = trainedParameterCount
    if let lora {
      json["lora_rank"] = lora.rank
      json["lora_alpha"] = lora.alpha
      json["lora_targets"] = lora.targets
    }
    if profile {
      json["gemm_profile"] = products.map { entry -> [String: Any] in
        [
          "layout": entry.layout, "m": entry.m, "n": entry.n, "k": entry.k,
          "calls_per_step": Double(entry.calls) / Double(steps),
          "seconds_per_step": rounded(entry.seconds / Double(steps), 5),
          "gflops": rounded(entry.gflops, 1),
        ]
      }
    }
    return Report(lines: lines, json: json)
  }

  /// The per-shape GEMM table of a profiled run: products of the largest shares first, then
  /// the total against the step's wall time.
  static func profileLines(_ profile: [GEMMProfile.Entry], steps: Int, stepSeconds: Double)
    -> [String]
  {
    var lines = [
      "GEMMs by shape (per step; seconds summed over the threads that ran them):",
      "  layout        m ×      n ×      k   calls   seconds   GFLOP/s",
    ]
    for entry in profile {
      lines.append(
        String(
          format: "  %@   %6d × %6d × %6d %7.1f %9.4f %9.1f", entry.layout, entry.m, entry.n,
          entry.k, Double(entry.calls) / Double(steps), entry.seconds / Double(steps),
          entry.gflops))
    }
    let seconds = profile.reduce(0) { $0 + $1.seconds } / Double(steps)
    let flops = profile.reduce(0) { $0 + $1.flops } / Double(steps)
    lines.append(
      String(
        format:
          "  all products: %.3f s (summed over threads), %.1f GFLOP, %.1f GFLOP/s;  step %.3f s",
        seconds, flops * 1e-9, seconds > 0 ? flops / seconds * 1e-9 : 0, stepSeconds))
    return lines
  }
}

/// `16` for 16.0, `0.5` for 0.5: a setting as a person writes it.
private func formatted(_ value: Double) -> String {
  value == value.rounded() ? String(Int(value)) : String(value)
}
