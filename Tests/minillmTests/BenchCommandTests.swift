import Foundation
import MiniLlama
import PipelineTestSupport
import TestSupport
import Testing

/// `minillm bench …` as Docs/Performance.md shows it, on the smallest settings: each ends with the
/// JSON line it documents, and its figures agree with each other (speed itself is never asserted).
@Suite(.requires(.built("minillm"))) struct BenchCommandTests {
  /// The last line of `minillm arguments`, parsed.
  func lastJSONLine(
    _ executable: String, _ arguments: [String], environment: [String: String] = [:]
  ) throws -> [String: Any] {
    let result = try runMinillmCapturing(executable, arguments, environment: environment)
    try #require(result.status == 0, "minillm \(arguments.joined(separator: " ")): \(result.error)")
    let line = try #require(result.output.split(separator: "\n").last)
    return try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
  }

  @Test func benchTrainReportsTheDocumentedFiguresAndFormula() throws {
    let minillm = try requireBuiltExecutable(named: "minillm")
    let json = try lastJSONLine(
      minillm,
      [
        "bench", "train", "--preset", "nano", "--steps", "2", "--warmup", "1", "--batch-size", "2",
        "--seq-len", "64", "--gemm-seconds", "0.05", "--threads", "2",
      ])
    for key in [
      "tokens_per_s", "gflops", "mfu", "gemm_peak_gflops", "peak_rss_mb", "fma_peak_gflops",
      "mfu_fma_peak", "best_gemm_gflops", "mfu_best_gemm",
    ] {
      let value = try #require(json[key] as? Double, "\(key) in \(json)")
      #expect(value > 0 && value.isFinite, "\(key) = \(value)")
    }
    // FLOPs per token: 6·N + 12·L·d·T, N = every parameter but the input embedding.
    let config = LlamaConfig.preset(.nano)
    let n = config.parameterCount - config.vocabSize * config.hiddenSize
    let expected = 6 * n + 12 * config.layerCount * config.hiddenSize * 64
    #expect(json["parameters"] as? Int == config.parameterCount)
    #expect(json["flops_per_token"] as? Int == expected)
    let tokensPerSecond = try #require(json["tokens_per_s"] as? Double)
    let gflops = try #require(json["gflops"] as? Double)
    let peak = try #require(json["gemm_peak_gflops"] as? Double)
    let mfu = try #require(json["mfu"] as? Double)
    // The printed figures are rounded (0.1 tokens/s, 0.1 GFLOP/s, 0.001 MFU).
    #expect(abs(gflops - tokensPerSecond * Double(expected) / 1e9) <= 0.06 + 0.01 * gflops)
    #expect(abs(mfu - gflops / peak) <= 0.002 + 0.01 * mfu)
    // The best GEMM is at least the square one; each MFU is the throughput over its peak.
    let best = try #require(json["best_gemm_gflops"] as? Double)
    let fmaPeak = try #require(json["fma_peak_gflops"] as? Double)
    #expect(best >= peak)
    let mfuBest = try #require(json["mfu_best_gemm"] as? Double)
    let mfuFMA = try #require(json["mfu_fma_peak"] as? Double)
    #expect(abs(mfuBest - gflops / best) <= 0.002 + 0.01 * mfuBest)
    #expect(abs(mfuFMA - gflops / fmaPeak) <= 0.002 + 0.01 * mfuFMA)
    let estimate = try #require(json["estimated_memory_mb"] as? Double)
    #expect(estimate > 0)
  }

  /// `--lora-rank`: adapters trained on the frozen model; FLOPs per token 4·N + 6·N_adapters +
  /// 12·L·d·T (no weight gradient of the frozen model), and a memory estimate below full
  /// training's.
  @Test func benchTrainWithLoRATrainsTheAdaptersAlone() throws {
    let minillm = try requireBuiltExecutable(named: "minillm")
    func run(_ extra: [String]) throws -> [String: Any] {
      try lastJSONLine(
        minillm,
        [
          "bench", "train", "--preset", "nano", "--steps", "2", "--warmup", "1", "--batch-size",
          "2", "--seq-len", "64", "--gemm-seconds", "0.05", "--threads", "2",
        ] + extra)
    }
    let json = try run(["--lora-rank", "4", "--lora-targets", "q_proj,v_proj"])
    let config = LlamaConfig.preset(.nano)
    let (d, kv) = (config.hiddenSize, config.kvHeadCount * config.headDim)
    let adapters = config.layerCount * 4 * ((d + config.headCount * config.headDim) + (d + kv))
    #expect(json["trained_parameters"] as? Int == adapters)
    #expect(json["lora_rank"] as? Int == 4)
    #expect(json["lora_targets"] as? [String] == ["q_proj", "v_proj"])
    let n = config.parameterCount - config.vocabSize * config.hiddenSize
    #expect(
      json["flops_per_token"] as? Int
        == 4 * n + 6 * adapters + 12 * config.layerCount * config.hiddenSize * 64)
    let full = try run([])
    #expect(full["trained_parameters"] as? Int == config.parameterCount)
    let (loraMemory, fullMemory) = (
      try #require(json["estimated_memory_mb"] as? Double),
      try #require(full["estimated_memory_mb"] as? Double)
    )
    #expect(loraMemory > 0 && loraMemory < fullMemory)
    // The adapters start at zero: the first loss is the frozen model's, as in full training.
    #expect(json["loss_first"] as? Double == full["loss_first"] as? Double)
  }

  /// `--gemm-profile`: the model's products appear with the calls a step makes, and their FLOPs
  /// lie between the linear layers' 6·(N − norm weights) per token and the formula's total.
  @Test func benchTrainProfilesTheProductsOfAStep() throws {
    let minillm = try requireBuiltExecutable(named: "minillm")
    let (batch, sequence) = (2, 64)
    let json = try lastJSONLine(
      minillm,
      [
        "bench", "train", "--preset", "nano", "--steps", "2", "--warmup", "1", "--batch-size",
        "\(batch)", "--seq-len", "\(sequence)", "--gemm-seconds", "0.05", "--threads", "2",
        "--gemm-profile",
      ])
    let profile = try #require(json["gemm_profile"] as? [[String: Any]], "gemm_profile in \(json)")
    func calls(_ layout: String, _ m: Int, _ n: Int, _ k: Int) -> Double? {
      profile.first {
        $0["layout"] as? String == layout && $0["m"] as? Int == m && $0["n"] as? Int == n
          && $0["k"] as? Int == k
      }.flatMap { ($0["calls_per_step"] as? NSNumber)?.doubleValue }
    }
    let config = LlamaConfig.preset(.nano)
    let (rows, d, ff, vocab) = (
      batch * sequence, config.hiddenSize, config.intermediateSize, config.vocabSize
    )
    let layers = Double(config.layerCount)
    #expect(calls("NT", rows, vocab, d) == 1, "head forward")
    #expect(calls("TN", vocab, d, rows) == 1, "head weight gradient")
    #expect(calls("NT", rows, ff, d) == 2 * layers, "gate and up forward")
    #expect(calls("NT", rows, d, ff) == layers, "down forward")
    #expect(calls("TN", ff, d, rows) == 2 * layers, "gate and up weight gradients")
    var flops = 0.0
    for entry in profile {
      let (m, n, k) = try (
        #require(entry["m"] as? Int), #require(entry["n"] as? Int), #require(entry["k"] as? Int)
      )
      let perStep = try #require((entry["calls_per_step"] as? NSNumber)?.doubleValue)
      flops += 2 * Double(m * n * k) * perStep
    }
    let n = config.parameterCount - vocab * d
    let normWeights = d * (2 * config.layerCount + 1)
    let linear = 6 * Double((n - normWeights) * rows)
    let formula = try #require((json["flops_per_token"] as? NSNumber)?.doubleValue) * Double(rows)
    #expect(flops >= linear * 0.999 && flops <= formula, "\(flops) in [\(linear), \(formula)]")
  }

  @Test(arguments: [false, true])
  func benchGenerateReportsPrefillDecodeAndMemory(q8: Bool) throws {
    let minillm = try requireBuiltExecutable(named: "minillm")
    let json = try lastJSONLine(
      minillm,
      [
        "bench", "generate", "--preset", "stories15m", "--prompt-tokens", "8", "--new-tokens", "8",
        "--repeats", "1",
      ] + (q8 ? ["--q8"] : []))
    for key in ["prefill_tokens_per_s", "decode_tokens_per_s", "peak_rss_mb"] {
      let value = try #require(json[key] as? Double, "\(key) in \(json)")
      #expect(value > 0 && value.isFinite, "\(key) = \(value)")
    }
    #expect(json["weights"] as? String == (q8 ? "q8_0" : "f32"))
    // Every projection and the (tied) head read once per token: q8_0 is 34 bytes per 32 weights.
    let bytes = try #require(json["weight_bytes_per_token"] as? Int)
    let config = LlamaConfig.preset(.stories15m)
    let floatBytes = 4 * config.parameterCount
    #expect(q8 ? bytes * 3 < floatBytes : abs(bytes - floatBytes) < floatBytes / 10)
  }

  @Test func benchDecodeReportsEveryBatchSize() throws {
    let minillm = try requireBuiltExecutable(named: "minillm")
    let directory = try temporaryDirectory("bench-decode")
    var config = LlamaConfig.preset(.nano)
    config.maxPositions = 64
    try Llama(config: config, seed: 3).save(to: directory)
    let json = try lastJSONLine(
      minillm,
      [
        "bench", "decode", "--model", directory, "--batch", "1,3", "--prompt-tokens", "4",
        "--new-tokens", "4", "--repeats", "1", "--threads", "1",
      ])
    #expect(json["benchmark"] as? String == "decode")
    let rows = try #require(json["batches"] as? [[String: Any]])
    #expect(rows.map { $0["batch"] as? Int } == [1, 3])
    for row in rows {
      let rate = try #require(row["tokens_per_second"] as? Double)
      let step = try #require(row["ms_per_step"] as? Double)
      let batch = Double(try #require(row["batch"] as? Int))
      #expect(rate > 0 && abs(step - 1000 * batch / rate) <= 1e-6 * step)
    }
    #expect(rows.first?["ratio"] as? Double == 1)
    let refused = try runMinillmCapturing(
      minillm, ["bench", "decode", "--model", directory, "--batch", "0"])
    #expect(refused.status != 0 && refused.error.contains("--batch"))
  }

  @Test func benchGemmMeasuresTheShapeAsked() throws {
    let minillm = try requireBuiltExecutable(named: "minillm")
    let json = try lastJSONLine(
      minillm,
      ["bench", "gemm", "--shape", "256,128,64,NT", "--threads", "1", "--seconds", "0.01"])
    let results = try #require(json["results"] as? [[String: Any]])
    #expect(results.count == 1)
    let result = try #require(results.first)
    #expect(result["m"] as? Int == 256 && result["n"] as? Int == 128 && result["k"] as? Int == 64)
    #expect(result["layout"] as? String == "NT" && result["threads"] as? Int == 1)
    #expect((result["gflops_median"] as? Double ?? 0) > 0)
    #expect(json["blas_core"] is String)
    #expect(json["blas_config"] is String)
    #expect(json["cpu_features"] is [String])
    #expect(json["kernels"] as? String == json["kernels_detected"] as? String)
  }

  /// `MINILLM_KERNELS` caps the kernels' instruction set (the JSON says which ran); a value that
  /// names no set is refused with the variable named.
  @Test func kernelVariableForcesThePortablePath() throws {
    let minillm = try requireBuiltExecutable(named: "minillm")
    let arguments = [
      "bench", "gemm", "--shape", "64,64,64,NN", "--threads", "1", "--seconds", "0.01",
    ]
    let json = try lastJSONLine(minillm, arguments, environment: ["MINILLM_KERNELS": "portable"])
    #expect(json["kernels"] as? String == "portable")
    let refused = try runMinillmCapturing(
      minillm, arguments, environment: ["MINILLM_KERNELS": "avx1024"])
    #expect(refused.status != 0)
    #expect(refused.error.contains("MINILLM_KERNELS=avx1024"), "\(refused.error)")
  }
}
