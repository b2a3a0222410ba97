import Foundation
import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// GGUF files quantized by llama.cpp's own `llama_model_quantize`, run with their blocks kept
/// (`Llama.forInference`): the same logits as llama.cpp within the activations' rounding, and
/// the same greedy tokens.
@Suite("GGUF quantized inference")
struct GGUFQuantizedTests {
  /// A model directory of a shape every format quantizes whole (rows of 256 values), with the
  /// test tokenizer (the exporter writes its vocabulary).
  static func directory(tied: Bool, seed: UInt64, maxPositions: Int = 128) throws -> (
    path: String, config: LlamaConfig
  ) {
    let tokenizer = try GGUFTestModel.tokenizer.get()
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 256, intermediateSize: 512, layerCount: 2,
      headCount: 4, kvHeadCount: 2, maxPositions: maxPositions, tieWordEmbeddings: tied,
      bosTokenId: 1,
      eosTokenIds: [2], initializerRange: 0.1)
    let path = try temporaryDirectory("gguf-quant-model")
    try Llama(config: config, seed: seed).save(to: path)
    try tokenizer.write(to: path + "/tokenizer.model")
    try Data(GGUFTestModel.defaultTokenizerConfig.utf8).write(
      to: URL(fileURLWithPath: path + "/tokenizer_config.json"))
    return (path, config)
  }

  /// Quantizes `source` into `destination` with llama.cpp (`llama_ftype` number `ftype`).
  static let quantizeScript = """
    import ctypes, sys
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = int(sys.argv[3])
    params.nthread = 1
    status = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(params))
    sys.exit(1 if status != 0 else 0)
    """

  /// llama.cpp decoding one token at a time (every product one row, as our decoding): the
  /// logits after each prompt token, then `count` greedy tokens (first maximum).
  static let decodeScript = """
    import json, sys
    import numpy as np
    import llama_cpp
    path, request = sys.argv[1], json.loads(sys.argv[2])
    model = llama_cpp.Llama(model_path=path, n_ctx=request["n_ctx"], n_batch=1, n_ubatch=1,
                            n_threads=1, verbose=False, type_k=0, type_v=0)
    ctx, V = model._ctx.ctx, model.n_vocab()
    def last():
        return np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(ctx, -1), shape=(V,)).copy()
    runs = []
    for prompt in request["prompts"]:
        model.reset()
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(ctx), True)
        logits = []
        for token in prompt:
            model.eval([token])
            logits.append(last())
        tokens, current = [], logits[-1]
        for _ in range(request["count"]):
            tokens.append(int(np.argmax(current)))
            model.eval([tokens[-1]])
            current = last()
        runs.append({"logits": [[float(x) for x in row] for row in logits], "tokens": tokens})
    print(json.dumps({"runs": runs}))
    """

  /// llama.cpp's file types: name, `llama_ftype`, tied head, the formats our model must hold.
  static let cases: [(String, Int, Bool, Set<String>)] = [
    ("Q4_0", 2, false, ["q4_0", "q6_K"]),
    ("Q4_1", 3, true, ["q4_1", "q6_K"]),
    ("Q5_0", 8, false, ["q5_0", "q6_K"]),
    ("Q5_1", 9, true, ["q5_1", "q6_K"]),
    ("Q8_0", 7, false, ["q8_0"]),
    ("Q4_K_S", 14, true, ["q4_K", "q5_K", "q6_K"]),
    ("Q4_K_M", 15, false, ["q4_K", "q6_K"]),
    ("Q6_K", 18, true, ["q6_K"]),
  ]

  @Test(.requires(.python("llama_cpp")), arguments: cases)
  func llamaCppQuantizedFilesDecodeAsLlamaCpp(
    name: String, ftype: Int, tied: Bool, formats: Set<String>
  ) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    let (directory, config) = try Self.directory(tied: tied, seed: UInt64(ftype))
    let folder = try temporaryDirectory("gguf-quant")
    let f32 = folder + "/f32.gguf"
    let file = folder + "/\(name).gguf"
    try ModelDirectory(path: directory).exportGGUF(to: f32, options: GGUFExportOptions(type: .f32))
    _ = try python.run(["-c", Self.quantizeScript, f32, file, String(ftype)]).get()

    let model = try Llama.forInference(directory: file)
    #expect(Set(model.linearWeights.map(\.formatName)) == formats, "\(name)")
    #expect(!model.isTrainable)
    // Decoding reads the blocks: far fewer bytes than the Float projections.
    let floatBytes = 4 * model.linearWeights.reduce(0) { $0 + $1.shape[0] * $1.shape[1] }
    let blockBytes = model.linearWeights.reduce(0) { $0 + $1.byteCount }
    #expect(blockBytes * 3 < floatBytes, "\(name): \(blockBytes) bytes of blocks")
    // The arena holds no Float copy of the blocks; `weights` still gives every weight, the
    // blocks dequantised as the importer dequantises them.
    for weight in model.linearWeights where weight.formatName != "f32" {
      #expect(
        model.arena.parameter(named: weight.name) == nil
          || weight.name == "model.embed_tokens.weight", "\(name): \(weight.name)")
    }
    let kept = Set(model.linearWeights.filter { $0.formatName != "f32" }.map(\.name))
    let arenaCount = config.tensorShapes.reduce(0) { total, entry in
      total
        + (kept.contains(entry.name) && entry.name != "model.embed_tokens.weight"
          ? 0 : entry.shape.reduce(1, *))
    }
    #expect(model.arena.count == arenaCount, "\(name)")
    let imported = try ModelDirectory(path: file).loadWeights(for: config)
    let weights = model.weights
    #expect(Set(weights.keys) == Set(imported.keys))
    for (key, value) in imported { #expect(weights[key]?.scalars == value.scalars, "\(key)") }

    let prompts: [[Int32]] = [[1, 45, 200, 17, 399, 3, 88, 150], [1, 7], [260, 31, 5, 77, 12]]
    let count = 32
    let request: [String: Any] = [
      "n_ctx": config.maxPositions, "count": count, "prompts": prompts.map { $0.map(Int.init) },
      "texts": [String](),
    ]
    let requestText = String(
      decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    let output = try python.run(["-c", Self.decodeScript, file, requestText]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let runs = try #require(json["runs"] as? [[String: Any]])
    try #require(runs.count == prompts.count)
    // Every type agrees to ≈ 1e-7 of the largest logit. Two roundings must be ggml's bit for
    // bit for that (else q4_0, q4_1 and Q4_K_S differ by up to ≈ 5 %): RMSNorm's scale
    // (1/sqrtf of the float mean) and the x86 activation quantizer (q = nearest-even of
    // x · 127/max|x|). These random models have unit norm weights, so after an embedding row of
    // q4_0 (or the tied head's q6_K) a block's values sit on a lattice whose points fall on the
    // quantizer's ties.
    for (prompt, run) in zip(prompts, runs) {
      let cache = KVCache(config: config)
      var logits = prompt.map { model([$0], cache: cache).value.scalars }
      var tokens: [Int] = []
      for _ in 0..<count {
        let last = logits[logits.count - 1]
        tokens.append(
          last.indices.max { last[$0] < last[$1] || (last[$0] == last[$1] && $0 > $1) }!)
        logits.append(model([Int32(tokens[tokens.count - 1])], cache: cache).value.scalars)
      }
      let theirs = try #require(run["tokens"] as? [Int])
      if name == "Q4_0" || name == "Q5_0" {
        // One continuation parts (Q4_0 at its 2nd generated token, Q5_0 at its 27th), where our
        // logits start to differ by a few percent: there llama.cpp's attention output (kqv_out
        // of layer 0 for Q4_0) has a value whose q8_0 quantization falls exactly on a tie
        // (−122.5), and our attention over a Float cache is not ggml's bit for bit, so that
        // quant can round the other way. The products are llama.cpp's bit for bit given the
        // same input (measured with scripts/ggml-trace.py's records), and with llama.cpp's
        // default half-precision cache both files follow it (`LlamaCppArithmeticTests`).
        withKnownIssue("a tie in the quantized attention output", isIntermittent: true) {
          #expect(theirs == tokens, "\(name): greedy tokens after \(prompt)")
        }
      } else {
        #expect(theirs == tokens, "\(name): greedy tokens after \(prompt)")
      }
      let llamaCpp = try #require(run["logits"] as? [[Double]])
      for position in prompt.indices {
        let reference = llamaCpp[position].map(Float.init)
        let scale = reference.map(abs).max() ?? 1
        // Tolerance: 0.1 % of the largest logit for the Float sums' order (measured ≈ 1e-7
        // relative).
        expectClose(
          logits[position], reference, rtol: 0, atol: 1e-3 * scale,
          "\(name): logits at position \(position) of \(prompt)")
      }
      // A batched prefill of the prompt (its rows quantized as decoding quantizes them, summed
      // by sgemm in another order), then batched decoding steps, into a Float cache.
      let batched = KVCache(config: config)
      var last = model.prefill(prompt, cache: batched)
      var generated: [Int] = []
      for _ in 0..<4 {
        generated.append(
          last.indices.max { last[$0] < last[$1] || (last[$0] == last[$1] && $0 > $1) }!)
        last =
          model.decodeStep([Int32(generated[generated.count - 1])], caches: [batched])
          .scalars
      }
      #expect(generated == Array(tokens.prefix(4)), "\(name): batched prefill")
    }
  }

  /// A projection whose block scale is not finite is refused, naming the tensor.
  @Test func aNonFiniteBlockScaleNamesTheTensor() throws {
    let (directory, _) = try Self.directory(tied: false, seed: 3)
    let path = try temporaryDirectory("gguf-bad-block") + "/model.gguf"
    try ModelDirectory(path: directory).exportGGUF(
      to: path, options: GGUFExportOptions(type: .q8_0))
    let reader = try GGUFReader(path: path)
    let info = try #require(reader.tensor(named: "blk.1.ffn_up.weight"))
    #expect(info.type == .q8_0)
    let handle = try #require(FileHandle(forUpdatingAtPath: path))
    // The f16 scale of the tensor's first block becomes +∞.
    try handle.seek(toOffset: UInt64(reader.dataOffset + info.offset))
    try handle.write(contentsOf: Data([0x00, 0x7C]))
    try handle.close()
    #expect {
      _ = try Llama.forInference(directory: path)
    } throws: { error in
      (error as? GGUFError)?.field == "tensor 'blk.1.ffn_up.weight'"
        && "\(error)".contains("NaN or infinite")
    }
  }

  /// An f32 export keeps its `Float` weights; a q8_0 export keeps its blocks and decodes as the
  /// dequantised model within the activations' 8-bit rounding.
  @Test func ourQ8_0ExportRunsOnItsBlocks() throws {
    let (directory, config) = try Self.directory(tied: true, seed: 4)
    let folder = try temporaryDirectory("gguf-q8")
    try ModelDirectory(path: directory).exportGGUF(
      to: folder + "/q8.gguf", options: GGUFExportOptions(type: .q8_0))
    let blocks = try Llama.forInference(directory: folder + "/q8.gguf")
    let dense = try Llama(directory: folder + "/q8.gguf")
    #expect(Set(blocks.linearWeights.map(\.formatName)) == ["q8_0"])
    #expect(Set(dense.linearWeights.map(\.formatName)) == ["f32"])
    #expect(blocks.decodeWeightBytes * 3 < dense.decodeWeightBytes)
    for (name, tensor) in dense.weights {
      #expect(blocks.weights[name]?.scalars == tensor.scalars, "\(name)")
    }
    let prompt: [Int32] = [1, 17, 250, 9, 33, 120]
    // Decoding quantizes each row to q8_0 and sums integers; prefill quantizes the same rows
    // and sums the same products through `sgemm`.
    let cache = KVCache(config: config)
    let decoded = prompt.flatMap { blocks([$0], cache: cache).value.scalars }
    let prefill = blocks(prompt).value.scalars
    let scale = decoded.map(abs).max() ?? 1
    // Tolerance: 1e-2 of the largest logit. The two paths sum Floats in other orders (and
    // OpenBLAS's kernels differ between CPUs), so an activation can land on the other side of
    // a q8_0 rounding step: one such step moved logits by 0.23 % of the largest with OpenBLAS's
    // Haswell kernels, none with its SkylakeX ones.
    expectClose(prefill, decoded, rtol: 0, atol: 1e-2 * scale, "prefill against decoding")
  }
}

/// The block kernels' dequantization (`GGMLMatrix.dequantized()`, what prefill multiplies by)
/// equals `GGMLType.decode` (bit for bit gguf-py's) on random blocks of every kept format.
@Suite("GGMLMatrix dequantization")
struct GGMLMatrixDequantizationTests {
  @Test(arguments: GGMLMatrix.Format.allCases)
  func dequantizationIsGGUFPys(_ format: GGMLMatrix.Format) throws {
    let type = try #require(GGMLType(rawValue: format.ggmlType))
    let (rows, cols) = (5, 512)
    var rng = PhiloxRNG(seed: UInt64(format.ggmlType))
    var bytes = (0..<rows * format.rowByteCount(cols)).map { _ in
      UInt8(truncatingIfNeeded: rng.next())
    }
    // Finite f16 scales (d, and m / dmin where the format has them): exponent bits not all set.
    let blockBytes = format.rowByteCount(format.blockSize)
    let scaleOffsets: [Int] =
      switch format {
      case .q4_0, .q5_0, .q8_0: [0]
      case .q4_1, .q5_1, .q4_K, .q5_K: [0, 2]
      case .q6_K: [208]
      }
    for start in stride(from: 0, to: bytes.count, by: blockBytes) {
      for offset in scaleOffsets { bytes[start + offset + 1] &= 0x3F }
    }
    let matrix = try GGMLMatrix(format: format, rows: rows, cols: cols, bytes: bytes)
    let ours = matrix.dequantized().scalars
    let theirs = bytes.withUnsafeBytes { type.decode($0, count: rows * cols) }
    let first = ours.indices.first { ours[$0].bitPattern != theirs[$0].bitPattern }
    #expect(first == nil, "\(format): first difference at \(first ?? -1)")
  }
}
