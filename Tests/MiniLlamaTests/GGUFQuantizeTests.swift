import Foundation
import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// Random values for the quantizer tests: blocks of 32 with various magnitudes, signs, a zero
/// block, a constant block, ties for the largest magnitude, and exact half steps.
func quantizerTestValues(count: Int, seed: UInt64) -> [Float] {
  var rng = PhiloxRNG(seed: seed)
  var values = (0..<count).map { _ in rng.nextNormal() }
  for block in 0..<count / 32 {
    let scale: Float = [1, 0.02, 3e-5, 40, 1e-3, 0.5][block % 6]
    for j in 0..<32 { values[block * 32 + j] *= scale }
    if block % 6 == 5 { for j in 0..<32 { values[block * 32 + j] = abs(values[block * 32 + j]) } }
  }
  if count >= 256 {
    for j in 0..<32 { values[32 + j] = 0 }
    for j in 0..<32 { values[64 + j] = 0.25 }
    values[96] = 2
    values[100] = -2
    for j in 0..<32 { values[128 + j] = Float(j - 16) / 8 }
  }
  return values
}

/// ggml's reference quantizers as our `GGMLType.encode` writes them.
@Suite("GGML block quantization")
struct GGUFQuantizeTests {
  /// Quantizes the float32 file `argv[1]` (rows of 256) with `gguf.quants.quantize` into
  /// `argv[2].<TYPE>` for each type named after it.
  static let script = """
    import sys
    import numpy as np
    import gguf
    values = np.fromfile(sys.argv[1], dtype=np.float32).reshape(-1, 256)
    for name in sys.argv[3:]:
        q = gguf.quants.quantize(values, gguf.GGMLQuantizationType[name])
        with open(sys.argv[2] + "." + name, "wb") as f:
            f.write(np.ascontiguousarray(q).view(np.uint8).tobytes())
    """

  static func encoded(_ values: [Float], as type: GGMLType) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: type.rowByteCount(values.count))
    values.withUnsafeBufferPointer { source in
      bytes.withUnsafeMutableBytes { type.encode(source, into: $0) }
    }
    return bytes
  }

  @Test(.requires(.python("gguf", "numpy")))
  func blocksEqualGGUFPy() throws {
    let python = try PythonRunner.requirePeers(importing: ["gguf", "numpy"])
    let folder = try temporaryDirectory("ggml-quantize")
    let values = quantizerTestValues(count: 256 * 64, seed: 11)
    let input = folder + "/values.f32"
    try values.withUnsafeBytes { try Data($0).write(to: URL(fileURLWithPath: input)) }
    let types: [GGMLType] = [.q4_0, .q4_1, .q5_0, .q8_0]
    _ = try python.run(
      ["-c", Self.script, input, folder + "/out"] + types.map { $0.name.uppercased() }
    ).get()
    for type in types {
      let theirs = try [UInt8](
        Data(contentsOf: URL(fileURLWithPath: folder + "/out." + type.name.uppercased())))
      let ours = Self.encoded(values, as: type)
      try #require(theirs.count == ours.count, "\(type.name) sizes")
      let first = ours.indices.first { ours[$0] != theirs[$0] }
      #expect(
        first == nil,
        "\(type.name): first differing byte \(first ?? -1) (block \((first ?? 0) / type.blockByteCount))"
      )
    }
  }

  /// Dequantizing what we quantize stays within a step of each value of its 32-value block.
  /// (The K formats quantize their scales against the super-block's largest, so a block far
  /// below its neighbours has no such bound; their bytes are checked against llama.cpp's in
  /// `GGUFQ4ExportTests`.)
  @Test(arguments: [GGMLType.q4_0, .q4_1, .q5_0])
  func roundTripIsWithinAStep(type: GGMLType) {
    let values = quantizerTestValues(count: 256 * 8, seed: 5)
    let bytes = Self.encoded(values, as: type)
    let restored = bytes.withUnsafeBytes { type.decode($0, count: values.count) }
    let levels: Float = [.q4_0: 16, .q4_1: 16, .q5_0: 32][type]!
    for block in 0..<values.count / 32 {
      let slice = values[block * 32..<(block + 1) * 32]
      let range = max(slice.max()! - min(0, slice.min()!), slice.map(abs).max()! * 2)
      for j in slice.indices {
        // Within a step of the block's range (two, for the Float16 rounding of the scale).
        #expect(
          abs(restored[j] - values[j]) <= 2 * range / (levels - 1) + 1e-6,
          "\(type.name) value \(j)")
      }
    }
  }
}

/// Our q4_0, q4_1 and q4_k exports against llama.cpp's own quantization (`llama_model_quantize`
/// of our f32 export): the same tensor types and the same bytes, and the same greedy tokens from
/// our `Llama.forInference` as from llama.cpp on our file.
@Suite("GGUF q4 export against llama.cpp")
struct GGUFQ4ExportTests {
  /// A model directory with the test tokenizer and random weights of the given shape.
  static func directory(hidden: Int, ffn: Int, layers: Int, tied: Bool, seed: UInt64) throws
    -> (path: String, config: LlamaConfig)
  {
    let tokenizer = try GGUFTestModel.tokenizer.get()
    let config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: hidden, intermediateSize: ffn,
      layerCount: layers, headCount: 4, kvHeadCount: 2, maxPositions: 128,
      tieWordEmbeddings: tied, bosTokenId: 1, eosTokenIds: [2], initializerRange: 0.1)
    let path = try temporaryDirectory("gguf-q4-model")
    try Llama(config: config, seed: seed).save(to: path)
    try tokenizer.write(to: path + "/tokenizer.model")
    try Data(GGUFTestModel.defaultTokenizerConfig.utf8).write(
      to: URL(fileURLWithPath: path + "/tokenizer_config.json"))
    return (path, config)
  }

  /// (our type, llama.cpp's `llama_ftype`, hidden size, layers, tied). 288 is not whole
  /// 256-value super-blocks: the head falls back to q8_0 and q4_K matrices to q5_0.
  static let cases: [(GGMLType, Int, Int, Int, Bool)] = [
    (.q4_0, 2, 256, 2, false), (.q4_0, 2, 288, 2, true),
    (.q4_1, 3, 256, 2, true), (.q4_1, 3, 288, 2, false),
    (.q4_K, 15, 256, 9, false), (.q4_K, 15, 288, 2, true),
  ]

  @Test(.requires(.python("llama_cpp")), arguments: cases)
  func llamaCppQuantizesOurF32FileToOurFile(
    type: GGMLType, ftype: Int, hidden: Int, layers: Int, tied: Bool
  ) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    let (path, _) = try Self.directory(
      hidden: hidden, ffn: 768, layers: layers, tied: tied, seed: UInt64(hidden + ftype))
    let folder = try temporaryDirectory("gguf-q4")
    let directory = ModelDirectory(path: path)
    try directory.exportGGUF(to: folder + "/f32.gguf", options: GGUFExportOptions(type: .f32))
    try directory.exportGGUF(to: folder + "/ours.gguf", options: GGUFExportOptions(type: type))
    _ = try python.run([
      "-c", GGUFQuantizedTests.quantizeScript, folder + "/f32.gguf", folder + "/theirs.gguf",
      String(ftype),
    ]).get()
    let ours = try GGUFReader(path: folder + "/ours.gguf")
    let theirs = try GGUFReader(path: folder + "/theirs.gguf")
    #expect(ours.value("general.file_type") == theirs.value("general.file_type"))
    #expect(Set(theirs.tensors.map(\.name)) == Set(ours.tensors.map(\.name)))
    var types = Set<String>()
    for info in ours.tensors {
      types.insert(info.type.name)
      let other = try #require(theirs.tensor(named: info.name))
      #expect(
        other.type == info.type,
        "\(info.name): llama.cpp chose \(other.type.name), we \(info.type.name)")
      #expect(other.dimensions == info.dimensions, "\(info.name)")
      guard other.type == info.type else { continue }
      let a = ours.bytes(of: info)
      let b = theirs.bytes(of: other)
      let first = a.indices.first { a[$0] != b[$0] }
      #expect(first == nil, "\(info.name) (\(info.type.name)): first differing byte \(first ?? -1)")
    }
    let expected: Set<String> =
      switch (type, hidden) {
      case (.q4_0, 256): ["f32", "q4_0", "q6_K"]
      case (.q4_0, _): ["f32", "q4_0", "q8_0"]
      case (.q4_1, 256): ["f32", "q4_1", "q6_K"]
      case (.q4_1, _): ["f32", "q4_1", "q8_0"]
      case (.q4_K, 256): ["f32", "q4_K", "q6_K"]
      default: ["f32", "q4_K", "q5_0", "q6_K", "q8_0"]
      }
    #expect(types == expected, "\(type.name) at \(hidden)")
  }

  @Test(.requires(.python("llama_cpp")), arguments: [GGMLType.q4_0, .q4_1, .q4_K])
  func ourQ4FileDecodesAsLlamaCpp(type: GGMLType) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    let (path, config) = try Self.directory(
      hidden: 256, ffn: 512, layers: 2, tied: type == .q4_1, seed: 21)
    let file = try temporaryDirectory("gguf-q4-decode") + "/model.gguf"
    try ModelDirectory(path: path).exportGGUF(to: file, options: GGUFExportOptions(type: type))
    let model = try Llama.forInference(directory: file)
    let kept: Set<String> = [type.name, "q6_K"]
    #expect(Set(model.linearWeights.map(\.formatName)) == kept)
    #expect(!model.isTrainable)

    let prompts: [[Int32]] = [[1, 45, 200, 17, 399, 3, 88, 150], [1, 7], [260, 31, 5, 77, 12]]
    let count = 24
    let request: [String: Any] = [
      "n_ctx": config.maxPositions, "count": count, "prompts": prompts.map { $0.map(Int.init) },
    ]
    let requestText = String(
      decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    let output = try python.run(["-c", GGUFQuantizedTests.decodeScript, file, requestText]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let runs = try #require(json["runs"] as? [[String: Any]])
    try #require(runs.count == prompts.count)
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
      #expect(theirs == tokens, "\(type.name): greedy tokens after \(prompt)")
      let llamaCpp = try #require(run["logits"] as? [[Double]])
      var worst: Float = 0
      for position in prompt.indices {
        let reference = llamaCpp[position].map(Float.init)
        let scale = reference.map(abs).max() ?? 1
        let difference = zip(logits[position], reference).map { abs($0 - $1) }.max() ?? 0
        worst = max(worst, difference / scale)
      }
      // Tolerance: 0.1 % of the largest logit for the order of the Float sums (≈ 1e-7
      // measured; see GGUFQuantizedTests).
      #expect(worst <= 1e-3, "\(type.name): logits off by \(worst)")
    }
  }
}
