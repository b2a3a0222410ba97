import Foundation
import MiniTensor

extension GenerationBenchmark {
  /// The figures of a benchmark run as `minillm bench generate` shows them: lines of text,
  /// then one JSON object (the contract of the benchmark scripts).
  package struct Report {
    /// The text lines.
    package var lines: [String]
    /// The figures: prefill and decode tokens/s (median, min, max), weight bytes per token,
    /// memory and load.
    package var json: [String: Any]
  }

  /// Runs `repeats` generations and reports their rates.
  /// - Parameters:
  ///   - name: the preset's name or the model directory.
  ///   - blasCore: the OpenBLAS kernel set and how it was chosen, for the header.
  package func report(name: String, repeats: Int, blasCore: String) -> Report {
    let probe = LoadProbe()
    let (prefillRates, decodeRates, output) = run(repeats: repeats)
    let foreign = probe.foreignCores()
    let prefill = BenchClock.summary(prefillRates)
    let decode = BenchClock.summary(decodeRates)
    let weightBytes = Double(model.decodeWeightBytes)
    let peakRSS = BenchClock.peakRSSMegabytes()
    // The storages of the projections and the head: `f32`, `q8_0`, or e.g. `q4_K+q6_K`.
    let weights = Set(model.linearWeights.map(\.formatName)).sorted().joined(separator: "+")
    let lines = [
      "model \(name): \(model.config.parameterCount) parameters, weights \(weights), threads \(threadCount())",
      "OpenBLAS core: \(blasCore)", kernelEnvironmentLine(),
      String(
        format: "prefill  %.1f tokens/s median (min %.1f, max %.1f), %d-token prompt",
        prefill.median, prefill.min, prefill.max, promptTokens),
      String(
        format: "decode   %.1f tokens/s median (min %.1f, max %.1f), %d new tokens", decode.median,
        decode.min, decode.max, output.count),
      String(
        format: "         %.1f MB of weights read per token → %.1f GB/s", weightBytes * 1e-6,
        weightBytes * decode.median * 1e-9),
      String(
        format: "peak RSS %.0f MiB;  other processes used %.2f cores meanwhile", peakRSS, foreign),
    ]
    let json: [String: Any] = [
      "benchmark": "generate", "model": name, "weights": weights,
      "threads": threadCount(), "prompt_tokens": promptTokens, "new_tokens": output.count,
      "repeats": repeats, "prefill_tokens_per_s": rounded(prefill.median, 1),
      "prefill_tokens_per_s_min": rounded(prefill.min, 1),
      "prefill_tokens_per_s_max": rounded(prefill.max, 1),
      "decode_tokens_per_s": rounded(decode.median, 1),
      "decode_tokens_per_s_min": rounded(decode.min, 1),
      "decode_tokens_per_s_max": rounded(decode.max, 1),
      "weight_bytes_per_token": Int(weightBytes), "peak_rss_mb": rounded(peakRSS, 1),
      "foreign_cores": rounded(foreign, 2), "blas_core": blasCoreName(),
    ]
    return Report(lines: lines, json: json)
  }
}
