import Foundation
import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// A GGUF file decodes in llama.cpp's arithmetic (`InferenceArithmetic.llamaCpp`): half-precision
/// keys and values attended to in ggml's order, ggml's RoPE angles and SiLU. Compared with
/// llama.cpp in its default configuration (`f16` cache, no flash attention), prompt by prompt,
/// with the prompt fed one token at a time and in one batch.
@Suite("llama.cpp arithmetic")
struct LlamaCppArithmeticTests {
  /// llama.cpp with its default context (f16 keys and values): after the prompt (in batches of
  /// `n_batch`), `count` greedy tokens (first maximum), and the logits before each of them.
  static let script = """
    import json, sys
    import numpy as np
    import llama_cpp
    path, request = sys.argv[1], json.loads(sys.argv[2])
    info = llama_cpp.llama_print_system_info().decode()
    model = llama_cpp.Llama(model_path=path, n_ctx=request["n_ctx"], n_batch=request["n_batch"],
                            n_ubatch=request["n_batch"], n_threads=2, verbose=False)
    ctx, V = model._ctx.ctx, model.n_vocab()
    def last():
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(V,)).copy()
    runs = []
    for prompt in request["prompts"]:
        model.reset()
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        model.eval(prompt)
        logits, tokens = [last()], []
        for _ in range(request["count"]):
            tokens.append(int(np.argmax(logits[-1])))
            model.eval([tokens[-1]])
            logits.append(last())
        runs.append({"logits": [[float(x) for x in row] for row in logits[:-1]], "tokens": tokens})
    print(json.dumps({"runs": runs, "system": info}))
    """

  /// The model of `GGUFQuantizedTests.directory(tied:seed:)` with norm weights spread around 1,
  /// as training leaves them (norms of exactly 1 put activation blocks on the lattice of the
  /// quantized embedding rows, where the activation quantizer meets ties at every step).
  static func directory(tied: Bool, seed: UInt64, maxPositions: Int = 128) throws -> (
    path: String, config: LlamaConfig
  ) {
    let (path, config) = try GGUFQuantizedTests.directory(
      tied: tied, seed: seed, maxPositions: maxPositions)
    let model = try Llama(directory: path)
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    for parameter in model.arena.parameters where parameter.name.hasSuffix("norm.weight") {
      parameter.value.withUnsafeSharedMutableBufferPointer { values in
        for i in values.indices {
          state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
          values[i] = 0.8 + 0.4 * Float(state >> 40) / Float(1 << 24)
        }
      }
    }
    try model.save(to: path)
    return (path, config)
  }

  /// Per step, max |Δ| over the vocabulary / the largest logit of llama.cpp's, and how many
  /// steps are llama.cpp's logits bit for bit.
  static func deviations(_ logits: [[Float]], from reference: [[Double]]) -> (
    relative: [Float], equal: Int
  ) {
    var relative: [Float] = []
    var equal = 0
    for (ours, row) in zip(logits, reference) {
      let expected = row.map(Float.init)
      let scale = expected.map(abs).max() ?? 1
      relative.append((zip(ours, expected).map { abs($0 - $1) }.max() ?? 0) / scale)
      if ours == expected { equal += 1 }
    }
    return (relative, equal)
  }

  /// Llama 3 RoPE scaling travels as `rope_freqs.weight` (llama.cpp's converter writes nothing
  /// else): the file's parameters are found again, and the file decodes as llama.cpp decodes it.
  @Test(.requires(.python("llama_cpp")))
  func llama3ScaledRoPEFromItsFrequencyFactors() throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    let tokenizer = try GGUFTestModel.tokenizer.get()
    let scaling = RopeScaling.llama3(
      factor: 32, lowFrequencyFactor: 1, highFrequencyFactor: 4, originalMaxPositions: 8192)
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 256, intermediateSize: 512, layerCount: 2,
      headCount: 4, kvHeadCount: 2, maxPositions: 128, ropeTheta: 500_000,
      ropeScaling: scaling, tieWordEmbeddings: true, bosTokenId: 1, eosTokenIds: [2],
      initializerRange: 0.1)
    let directory = try temporaryDirectory("llama3-rope")
    try Llama(config: config, seed: 5).save(to: directory)
    try tokenizer.write(to: directory + "/tokenizer.model")
    let file = directory + "/model.gguf"
    try ModelDirectory(path: directory).exportGGUF(
      to: file, options: GGUFExportOptions(type: .q8_0))
    let reader = try GGUFReader(path: file)
    #expect(reader.tensor(named: "rope_freqs.weight") != nil)
    #expect(try LlamaConfig(gguf: reader).ropeScaling == scaling)
    let model = try Llama.forInference(directory: file)

    let count = 24
    let request: [String: Any] = [
      "n_ctx": config.maxPositions, "n_batch": 512, "count": count,
      "prompts": Self.prompts.map { $0.map(Int.init) },
    ]
    let requestText = String(
      decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    let output = try python.run(["-c", Self.script, file, requestText]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let runs = try #require(json["runs"] as? [[String: Any]])
    for (prompt, run) in zip(Self.prompts, runs) {
      let theirs = try #require(run["tokens"] as? [Int])
      let reference = try #require(run["logits"] as? [[Double]])
      let cache = model.makeCache()
      var logits = [model.prefill(prompt, cache: cache)]
      for token in theirs.dropLast() {
        logits.append(model.decodeStep([Int32(token)], caches: [cache]).scalars)
      }
      let relative = zip(logits, reference).map { ours, row -> Float in
        let expected = row.map(Float.init)
        let scale = expected.map(abs).max() ?? 1
        return (zip(ours, expected).map { abs($0 - $1) }.max() ?? 0) / scale
      }
      #expect(relative.sorted()[relative.count / 2] <= 1e-6, "\(prompt): \(relative)")
      let generated = model.generate(
        prompt: prompt, options: GenerationOptions(maxNewTokens: count, sampling: .greedy))
      #expect(generated.map(Int.init) == theirs, "greedy tokens after \(prompt)")
    }
  }

  /// A prompt of 100 tokens, prefilled in one batch (more rows than the 64 up to which products
  /// are row-invariant by default): a GGUF file's products compute every row as decoding does,
  /// as llama.cpp's do for these formats (llamafile's tinyBLAS sums a prompt's q8_0 and q5_0
  /// blocks in ggml_vec_dot's order, the repacked q4_0 kernels sum several rows as one), and
  /// attention sums q·k in the order of llama.cpp's interleaved layout of rotated pairs, so the
  /// prefill's logits and the steps after it are llama.cpp's bit for bit (with `sgemm` on the
  /// dequantized weight, or q·k in Hugging Face's order, they were off at most steps).
  @Test(.requires(.python("llama_cpp")), arguments: ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1"])
  func longPromptsFollowLlamaCpp(_ name: String) throws {
    let (_, ftype, tied, _) = try #require(GGUFQuantizedTests.cases.first { $0.0 == name })
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    let (directory, config) = try Self.directory(tied: tied, seed: 3, maxPositions: 256)
    let f32 = directory + "/f32.gguf"
    let file = directory + "/\(name).gguf"
    try ModelDirectory(path: directory).exportGGUF(to: f32, options: GGUFExportOptions(type: .f32))
    _ = try python.run(["-c", GGUFQuantizedTests.quantizeScript, f32, file, String(ftype)]).get()
    let model = try Llama.forInference(directory: file)
    var rng = PhiloxRNG(seed: 9)
    let prompt: [Int32] = [1] + (0..<99).map { _ in Int32(3 + rng.next() % 390) }
    let count = 16
    let request: [String: Any] = [
      "n_ctx": config.maxPositions, "n_batch": 512, "count": count,
      "prompts": [prompt.map(Int.init)],
    ]
    let requestText = String(
      decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    let output = try python.run(["-c", Self.script, file, requestText]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let run = try #require((json["runs"] as? [[String: Any]])?.first)
    let theirs = try #require(run["tokens"] as? [Int])
    let reference = try #require(run["logits"] as? [[Double]])
    let system = json["system"] as? String ?? ""
    let avx2Build = system.contains("AVX2 = 1") && !system.contains("AVX512 = 1")

    let cache = model.makeCache()
    var logits = [model.prefill(prompt, cache: cache)]
    for token in theirs.dropLast() {
      logits.append(model.decodeStep([Int32(token)], caches: [cache]).scalars)
    }
    let (relative, equal) = Self.deviations(logits, from: reference)
    #expect(relative.sorted()[count / 2] <= 1e-6, "\(name): deviations \(relative)")
    if avx2Build {
      #expect(4 * equal >= 3 * count, "\(name): \(equal) of \(count) steps bit-equal")
    }
    let generated = model.generate(
      prompt: prompt, options: GenerationOptions(maxNewTokens: count, sampling: .greedy))
    #expect(generated.map(Int.init) == theirs, "\(name): greedy tokens after the long prompt")
  }

  /// A Qwen2-shaped model (q/k/v biases, tied head, θ = 10⁶, one key/value head) whose width,
  /// 320, is no whole number of k-quant super-blocks, as Qwen2.5-0.5B's 896 and SmolLM2's 576
  /// are not: llama.cpp's k-quant mixes then fall back to q5_0 and q8_0 for those rows, while the
  /// FFN's down projection (768 inputs) keeps q4_K / q6_K. A 60-token prompt, then greedy steps:
  /// llama.cpp's logits bit for bit at most steps and its greedy tokens. Qwen2 files keep
  /// Hugging Face's rotate-half layout (ggml's NEOX RoPE), so q·k is summed in that order.
  @Test(
    .requires(.python("llama_cpp")),
    arguments: [("Q8_0", 7, 512), ("Q4_0", 2, 512), ("Q4_K_M", 15, 512), ("Q4_K_M", 15, 1)])
  func qwen2ShapedFilesFollowLlamaCpp(name: String, ftype: Int, batch: Int) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    let tokenizer = try GGUFTestModel.tokenizer.get()
    var config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 320, intermediateSize: 768, layerCount: 2,
      headCount: 5, kvHeadCount: 1, maxPositions: 256, rmsNormEps: 1e-6, ropeTheta: 1_000_000,
      tieWordEmbeddings: true, bosTokenId: 1, eosTokenIds: [2], initializerRange: 0.1)
    config.architecture = .qwen2
    var weights = Llama(config: config, seed: 21).weights
    var rng = PhiloxRNG(seed: 22)
    for key in weights.keys.sorted() {
      let tensor = weights[key]!
      if key.hasSuffix(".bias") {
        weights[key] = Tensor(
          (0..<tensor.count).map { _ in rng.nextNormal() * 0.3 }, shape: tensor.shape)
      } else if key.hasSuffix("norm.weight") {
        weights[key] = Tensor(
          (0..<tensor.count).map { _ in 0.8 + 0.4 * Float(rng.next() % 1_000_000) / 1e6 },
          shape: tensor.shape)
      }
    }
    let directory = try temporaryDirectory("llama-cpp-qwen2")
    try ModelDirectory(path: directory).save(config: config, weights: weights)
    try tokenizer.write(to: directory + "/tokenizer.model")
    try Data(GGUFTestModel.defaultTokenizerConfig.utf8).write(
      to: URL(fileURLWithPath: directory + "/tokenizer_config.json"))
    let f32 = directory + "/f32.gguf"
    let file = directory + "/\(name).gguf"
    try ModelDirectory(path: directory).exportGGUF(to: f32, options: GGUFExportOptions(type: .f32))
    _ = try python.run(["-c", GGUFQuantizedTests.quantizeScript, f32, file, String(ftype)]).get()
    let model = try Llama.forInference(directory: file)
    let formats = Set(model.linearWeights.map(\.formatName))
    #expect(name != "Q4_K_M" || formats == ["q5_0", "q8_0", "q4_K", "q6_K"], "\(formats)")
    let prompt: [Int32] = [1] + (0..<59).map { _ in Int32(3 + rng.next() % 390) }
    let count = 24
    let request: [String: Any] = [
      "n_ctx": config.maxPositions, "n_batch": batch, "count": count,
      "prompts": [prompt.map(Int.init)],
    ]
    let requestText = String(
      decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    let output = try python.run(["-c", Self.script, file, requestText]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let run = try #require((json["runs"] as? [[String: Any]])?.first)
    let theirs = try #require(run["tokens"] as? [Int])
    let reference = try #require(run["logits"] as? [[Double]])
    let system = json["system"] as? String ?? ""
    let avx2Build = system.contains("AVX2 = 1") && !system.contains("AVX512 = 1")
    let cache = model.makeCache()
    var logits: [[Float]] = []
    if batch == 1 {
      for token in prompt { logits = [model([token], cache: cache).value.scalars] }
    } else {
      logits = [model.prefill(prompt, cache: cache)]
    }
    for token in theirs.dropLast() {
      logits.append(model.decodeStep([Int32(token)], caches: [cache]).scalars)
    }
    let (relative, equal) = Self.deviations(logits, from: reference)
    #expect(relative.sorted()[count / 2] <= 1e-6, "\(name): deviations \(relative)")
    if avx2Build {
      #expect(4 * equal >= 3 * count, "\(name): \(equal) of \(count) steps bit-equal")
    }
    let cache2 = model.makeCache()
    var last = batch == 1 ? [] : model.prefill(prompt, cache: cache2)
    if batch == 1 { for token in prompt { last = model([token], cache: cache2).value.scalars } }
    var generated: [Int] = []
    for _ in 0..<count {
      generated.append(
        last.indices.max { last[$0] < last[$1] || (last[$0] == last[$1] && $0 > $1) }!)
      last = model.decodeStep([Int32(generated[generated.count - 1])], caches: [cache2]).scalars
    }
    #expect(generated == theirs, "\(name): greedy tokens")
  }

  static let prompts: [[Int32]] = [
    [1, 45, 200, 17, 399, 3, 88, 150], [1, 7], [260, 31, 5, 77, 12, 9, 301, 44, 2, 18, 390, 6],
  ]

  /// The formats whose products follow llama.cpp's x86 kernels to the last bit: q8_0, q4_0 (as
  /// its repacked q4_0_8x8 kernel sums), q4_1, q4_K (as the repacked q4_K_8x8 kernel sums a row)
  /// and q6_K (as ggml_vec_dot_q6_K_q8_K's eight lanes sum). llama.cpp multiplies q5_K (in
  /// Q4_K_S files) through its generic repacked kernel, in another order: there a rounding
  /// difference of one ulp now and then moves an activation across a step of its 8-bit
  /// quantization, and these small random models then part from llama.cpp by a few percent of a
  /// logit.
  static let files = GGUFQuantizedTests.cases.filter {
    ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q6_K", "Q4_K_M"].contains($0.0)
  }

  @Test(.requires(.python("llama_cpp")), arguments: files, [1, 512])
  func greedyDecodingFollowsLlamaCppsDefaultContext(
    file type: (name: String, ftype: Int, tied: Bool, formats: Set<String>), batch: Int
  ) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    let (directory, config) = try Self.directory(tied: type.tied, seed: UInt64(type.ftype))
    let folder = try temporaryDirectory("llama-cpp-arithmetic")
    let f32 = folder + "/f32.gguf"
    let file = folder + "/\(type.name).gguf"
    try ModelDirectory(path: directory).exportGGUF(to: f32, options: GGUFExportOptions(type: .f32))
    _ = try python.run(["-c", GGUFQuantizedTests.quantizeScript, f32, file, String(type.ftype)])
      .get()
    let model = try Llama.forInference(directory: file)
    #expect(model.arithmetic == .llamaCpp)
    #expect(model.makeCache().precision == .f16)

    let count = 48
    let request: [String: Any] = [
      "n_ctx": config.maxPositions, "n_batch": batch, "count": count,
      "prompts": Self.prompts.map { $0.map(Int.init) },
    ]
    let requestText = String(
      decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    let output = try python.run(["-c", Self.script, file, requestText]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let runs = try #require(json["runs"] as? [[String: Any]])
    try #require(runs.count == Self.prompts.count)
    let system = json["system"] as? String ?? ""
    // ggml's AVX-512 build sums in 16 lanes and has its own e^x: bit-equality is claimed for the
    // AVX2 build only.
    let avx2Build = system.contains("AVX2 = 1") && !system.contains("AVX512 = 1")

    /// ``deviations(_:from:)`` of our logits along llama.cpp's tokens.
    func deviations(
      _ prompt: [Int32], _ tokens: [Int], _ reference: [[Double]], precision: KVCache.Precision
    ) -> (relative: [Float], equal: Int) {
      let cache = KVCache(config: config, precision: precision)
      var logits: [[Float]] = []
      if batch == 1 {
        for token in prompt { logits = [model([token], cache: cache).value.scalars] }
      } else {
        logits = [model.prefill(prompt, cache: cache)]
      }
      for token in tokens.dropLast() {
        logits.append(model.decodeStep([Int32(token)], caches: [cache]).scalars)
      }
      return Self.deviations(logits, from: reference)
    }
    func median(_ values: [Float]) -> Float { values.sorted()[values.count / 2] }

    var equalSteps = 0
    for (prompt, run) in zip(Self.prompts, runs) {
      let theirs = try #require(run["tokens"] as? [Int])
      let reference = try #require(run["logits"] as? [[Double]])
      let half = deviations(prompt, theirs, reference, precision: .f16)
      equalSteps += half.equal
      // Most steps agree to the order of float additions (≈ 1e-7 of the largest logit); a
      // quantization step crossed now and then shows as a jump, hence the median.
      #expect(
        median(half.relative) <= 1e-6,
        "\(type.name), batch \(batch), \(prompt): deviations \(half.relative)")
      // Float keys and values (`transformers`' attention) on the same model: far from llama.cpp.
      let float = deviations(prompt, theirs, reference, precision: .f32)
      #expect(
        median(float.relative) >= 1e-5,
        "\(type.name), batch \(batch): a Float cache deviates by \(median(float.relative))")
      // Our own greedy decoding, as `generate` runs it (the prompt in one batch).
      if batch > 1 {
        let generated = model.generate(
          prompt: prompt, options: GenerationOptions(maxNewTokens: count, sampling: .greedy))
        #expect(
          generated.map(Int.init) == theirs,
          "\(type.name): greedy tokens after \(prompt)")
      }
    }
    // Bit for bit at most steps (measured: every step of most prompts; a prompt may meet a
    // quantization tie where the attention output's last bit decides, and part from there).
    if avx2Build {
      #expect(
        4 * equalSteps >= 3 * count * Self.prompts.count,
        "\(type.name), batch \(batch): \(equalSteps) of \(count * Self.prompts.count) steps bit-equal"
      )
    }
  }
}
