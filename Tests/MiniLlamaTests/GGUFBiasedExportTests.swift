import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import TestSupport
import Testing

/// Exporting models with attention biases: Qwen2 (`general.architecture` `qwen2`, q/k/v biases,
/// rows in the Hugging Face order) and Llama with `attention_bias` (q/k/v/o biases, q and k
/// permuted as their weights).
@Suite("GGUF export of biased attention")
struct GGUFBiasedExportTests {
  /// A model directory of `architecture` with random weights and random (non-zero) biases.
  static func directory(architecture: LlamaArchitecture, tied: Bool, seed: UInt64) throws
    -> (path: String, config: LlamaConfig, tokenizer: SentencePieceTokenizer)
  {
    let tokenizer = try GGUFTestModel.tokenizer.get()
    var config = LlamaConfig(
      vocabSize: tokenizer.vocabularySize, hiddenSize: 64, intermediateSize: 128, layerCount: 2,
      headCount: 4, kvHeadCount: 2, maxPositions: 128, rmsNormEps: 1e-6, ropeTheta: 1_000_000,
      tieWordEmbeddings: tied, bosTokenId: 1, eosTokenIds: [2], initializerRange: 0.25)
    config.architecture = architecture
    config.attentionBias = architecture == .llama
    var weights = Llama(config: config, seed: seed).weights
    var rng = PhiloxRNG(seed: seed &+ 100)
    for (name, tensor) in weights where name.hasSuffix(".bias") {
      weights[name] = Tensor(
        (0..<tensor.count).map { _ in rng.nextNormal() * 0.5 }, shape: tensor.shape)
    }
    let path = try temporaryDirectory("gguf-biased")
    try ModelDirectory(path: path).save(config: config, weights: weights)
    try tokenizer.write(to: path + "/tokenizer.model")
    try Data(GGUFTestModel.defaultTokenizerConfig.utf8).write(
      to: URL(fileURLWithPath: path + "/tokenizer_config.json"))
    return (path, config, tokenizer)
  }

  @Test(arguments: [(LlamaArchitecture.qwen2, false), (.qwen2, true), (.llama, false)])
  func exportsBiasesAndRoundTripsExactly(architecture: LlamaArchitecture, tied: Bool) throws {
    let (path, config, _) = try Self.directory(architecture: architecture, tied: tied, seed: 3)
    #expect(!config.biasedProjections.isEmpty)
    let out = try temporaryDirectory("gguf-biased-out") + "/model.gguf"
    try ModelDirectory(path: path).exportGGUF(to: out, options: GGUFExportOptions(type: .f32))
    let reader = try GGUFReader(path: out)
    let arch = architecture.rawValue
    #expect(reader.value("general.architecture") == .string(arch))
    for key in [
      "block_count", "context_length", "embedding_length", "feed_forward_length",
      "attention.head_count", "attention.head_count_kv", "rope.freq_base",
      "attention.layer_norm_rms_epsilon",
    ] {
      #expect(reader.value(arch + "." + key) != nil, "\(arch).\(key)")
    }
    #expect(reader.metadata.allSatisfy { !$0.key.hasPrefix(arch == "qwen2" ? "llama." : "qwen2.") })
    #expect(reader.value(arch + ".rope.freq_base") == .float32(1_000_000))

    let weights = try ModelDirectory(path: path).loadWeights(for: config)
    let shortNames = [
      "q_proj": "attn_q", "k_proj": "attn_k", "v_proj": "attn_v", "o_proj": "attn_output",
    ]
    for i in 0..<config.layerCount {
      for projection in ["q_proj", "k_proj", "v_proj", "o_proj"] {
        let name = "blk.\(i).\(shortNames[projection]!).bias"
        let info = reader.tensor(named: name)
        guard config.biasedProjections.contains(projection) else {
          #expect(info == nil, "\(name) must not be written")
          continue
        }
        let bias = try #require(info, "\(name) missing")
        #expect(
          bias.type == .f32
            && bias.dimensions == [weights["model.layers.\(i).self_attn.\(projection).bias"]!.count]
        )
        let source = weights["model.layers.\(i).self_attn.\(projection).bias"]!.scalars
        let stored = reader.values(of: bias)
        let heads = projection == "q_proj" ? config.headCount : config.kvHeadCount
        let expected =
          architecture == .llama && ["q_proj", "k_proj"].contains(projection)
          ? unpermuteGGUFRows(stored, rowLength: 1, heads: heads) : stored
        #expect(expected == source, "\(name)")
      }
      // Qwen2's q and k weights keep the Hugging Face row order.
      if architecture == .qwen2 {
        let q = try #require(reader.tensor(named: "blk.\(i).attn_q.weight"))
        #expect(
          reader.values(of: q) == weights["model.layers.\(i).self_attn.q_proj.weight"]!.scalars)
      }
    }

    // Export → import gives the model back exactly.
    let (imported, back) = try ModelDirectory(path: out).loadGGUF()
    #expect(imported.architecture == architecture)
    #expect(imported.biasedProjections == config.biasedProjections)
    #expect(imported.tieWordEmbeddings == tied)
    #expect(Set(back.keys) == Set(weights.keys))
    for (name, tensor) in weights {
      #expect(back[name]?.scalars == tensor.scalars, "\(name)")
    }
  }

  @Test(
    .requires(.python("llama_cpp")),
    arguments: [(LlamaArchitecture.qwen2, false), (.qwen2, true), (.llama, false)])
  func llamaCppGeneratesOurGreedyTokens(architecture: LlamaArchitecture, tied: Bool) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    let (path, config, tokenizer) = try Self.directory(
      architecture: architecture, tied: tied, seed: 7)
    let out = try temporaryDirectory("gguf-biased-llamacpp") + "/model.gguf"
    try ModelDirectory(path: path).exportGGUF(to: out, options: GGUFExportOptions(type: .f32))

    let model = try Llama(directory: path)
    let prompts: [[Int32]] = try [
      [1] + tokenizer.encode("hello world").map(Int32.init),
      [1] + tokenizer.encode("春眠不觉晓，").map(Int32.init),
      tokenizer.encode("the model learns from data").map(Int32.init),
    ]
    let count = 12
    let request: [String: Any] = [
      "n_ctx": config.maxPositions, "count": count, "prompts": prompts.map { $0.map(Int.init) },
      "texts": [String](),
    ]
    let requestText = String(
      decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    let output = try python.run(["-c", GGUFLlamaCppTests.script, out, requestText]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    let runs = try #require(json["runs"] as? [[String: Any]])
    try #require(runs.count == prompts.count)
    // Our loader of the exported file: the same model.
    let loaded = try Llama(directory: out)
    for (prompt, run) in zip(prompts, runs) {
      let ours = model.generate(
        prompt: prompt, options: GenerationOptions(maxNewTokens: count, sampling: .greedy))
      let fromFile = loaded.generate(
        prompt: prompt, options: GenerationOptions(maxNewTokens: count, sampling: .greedy))
      let theirs = try #require(run["tokens"] as? [Int])
      #expect(theirs == ours.map(Int.init), "\(architecture): greedy tokens for \(prompt)")
      #expect(fromFile == ours, "\(architecture): our load of the file")
      let logits = model(prompt).value.reshaped([prompt.count, config.vocabSize])
      let llamaCpp = try #require(run["logits"] as? [[Double]])
      for position in 0..<prompt.count {
        expectClose(
          llamaCpp[position].map(Float.init), logits[row: position].scalars, rtol: 1e-3,
          atol: 1e-3, "\(architecture): logits at position \(position) of \(prompt)")
      }
    }
  }
}
