import Foundation
import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// GGUF files that describe no loadable model: each gives one `GGUFError` naming the file and
/// the metadata key or tensor, never a crash.
@Suite("GGUF import validation")
struct GGUFImportValidationTests {
  /// A valid file's description: a 2-layer `arch` model with random weights under llama.cpp's
  /// names (the rows are not permuted: only shapes and names matter here).
  static func writer(architecture: String = "llama") -> GGUFWriter {
    var config = LlamaConfig(
      vocabSize: 40, hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 4,
      kvHeadCount: 2, maxPositions: 64)
    config.architecture = architecture == "qwen2" ? .qwen2 : .llama
    let weights = Llama(config: config, seed: 3).weights
    var writer = GGUFWriter()
    let a = architecture
    writer.set("general.architecture", .string(a))
    for (key, value) in [
      ("block_count", 2), ("context_length", 64), ("embedding_length", 32),
      ("feed_forward_length", 64), ("attention.head_count", 4), ("attention.head_count_kv", 2),
    ] {
      writer.set("\(a).\(key)", .uint32(UInt32(value)))
    }
    writer.set("\(a).attention.layer_norm_rms_epsilon", .float32(1e-5))
    writer.set("\(a).rope.freq_base", .float32(10_000))
    writer.set("tokenizer.ggml.eos_token_id", .uint32(2))
    var tensors = [
      GGUFTensor(
        name: "token_embd.weight", type: .f32, values: weights["model.embed_tokens.weight"]!)
    ]
    for i in 0..<2 {
      let (g, h) = ("blk.\(i).", "model.layers.\(i).")
      var names = [
        ("attn_norm.weight", "input_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"),
        ("attn_k.weight", "self_attn.k_proj.weight"), ("attn_v.weight", "self_attn.v_proj.weight"),
        ("attn_output.weight", "self_attn.o_proj.weight"),
        ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"), ("ffn_up.weight", "mlp.up_proj.weight"),
        ("ffn_down.weight", "mlp.down_proj.weight"),
      ]
      if architecture == "qwen2" {
        names += [
          ("attn_q.bias", "self_attn.q_proj.bias"), ("attn_k.bias", "self_attn.k_proj.bias"),
          ("attn_v.bias", "self_attn.v_proj.bias"),
        ]
      }
      for (gg, hf) in names {
        tensors.append(GGUFTensor(name: g + gg, type: .f32, values: weights[h + hf]!))
      }
    }
    tensors.append(
      GGUFTensor(name: "output_norm.weight", type: .f32, values: weights["model.norm.weight"]!))
    tensors.append(
      GGUFTensor(name: "output.weight", type: .f32, values: weights["lm_head.weight"]!))
    writer.tensors = tensors
    return writer
  }

  /// Writes `writer` and expects loading it to fail naming `field`.
  func expectRejected(
    _ writer: GGUFWriter, field: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    let path = try temporaryDirectory("bad-gguf") + "/model.gguf"
    try writer.write(to: path)
    do {
      _ = try Llama(directory: path)
      Issue.record("loaded; expected an error naming \(field)", sourceLocation: sourceLocation)
    } catch let error as GGUFError {
      #expect(error.path == path, sourceLocation: sourceLocation)
      #expect(error.field == field, "\(error)", sourceLocation: sourceLocation)
    }
  }

  @Test(arguments: ["llama", "qwen2"])
  func theBaseFileLoads(architecture: String) throws {
    let path = try temporaryDirectory("good-gguf") + "/model.gguf"
    try Self.writer(architecture: architecture).write(to: path)
    let model = try Llama(directory: path)
    #expect(model.config.architecture.rawValue == architecture)
    #expect(model.config.eosTokenIds == [2] && !model.config.tieWordEmbeddings)
    #expect(ModelDirectory(path: path).isGGUFFile)
  }

  @Test func unsupportedArchitecturesAreNamed() throws {
    var writer = Self.writer()
    writer.set("general.architecture", .string("gpt2"))
    try expectRejected(writer, field: "general.architecture")
    writer.set("general.architecture", .uint32(1))
    try expectRejected(writer, field: "general.architecture")
  }

  @Test(arguments: [
    "llama.block_count", "llama.embedding_length", "llama.attention.head_count",
    "llama.feed_forward_length", "llama.context_length", "llama.attention.layer_norm_rms_epsilon",
  ])
  func missingKeysAreNamed(key: String) throws {
    var writer = Self.writer()
    var rebuilt = GGUFWriter()
    for (k, v) in writer.metadata where k != key { rebuilt.set(k, v) }
    rebuilt.tensors = writer.tensors
    writer = rebuilt
    try expectRejected(writer, field: key)
  }

  @Test func badValuesAreNamed() throws {
    let cases: [(String, GGUFValue, String)] = [
      ("llama.embedding_length", .string("wide"), "llama.embedding_length"),
      ("llama.block_count", .int32(-2), "llama.block_count"),
      ("llama.rope.freq_base", .string("x"), "llama.rope.freq_base"),
      (
        "llama.attention.layer_norm_rms_epsilon", .float32(.nan),
        "llama.attention.layer_norm_rms_epsilon"
      ),
      ("llama.attention.head_count_kv", .uint32(3), "llama.attention.head_count_kv"),
      ("llama.attention.head_count", .uint32(0), "llama.attention.head_count"),
      ("llama.rope.dimension_count", .uint32(4), "llama.rope.dimension_count"),
      ("llama.attention.value_length", .uint32(4), "llama.attention.value_length"),
      ("llama.rope.scaling.type", .string("yarn"), "llama.rope.scaling.type"),
      ("llama.expert_count", .uint32(8), "llama.expert_count"),
      ("tokenizer.ggml.bos_token_id", .uint32(400), "tokenizer.ggml.bos_token_id"),
      ("tokenizer.ggml.eos_token_id", .int32(-1), "tokenizer.ggml.eos_token_id"),
      ("llama.context_length", .uint64(1 << 40), "llama.context_length"),
    ]
    for (key, value, field) in cases {
      var writer = Self.writer()
      writer.set(key, value)
      try expectRejected(writer, field: field)
    }
    var scaled = Self.writer()
    scaled.set("llama.rope.scaling.type", .string("linear"))
    try expectRejected(scaled, field: "llama.rope.scaling.factor")
  }

  @Test func missingMisshapenAndExtraTensorsAreNamed() throws {
    var missing = Self.writer()
    missing.tensors.removeAll { $0.name == "blk.1.ffn_up.weight" }
    try expectRejected(missing, field: "tensor 'blk.1.ffn_up.weight'")

    var misshapen = Self.writer()
    let index = misshapen.tensors.firstIndex { $0.name == "blk.0.attn_k.weight" }!
    misshapen.tensors[index] = GGUFTensor(
      name: "blk.0.attn_k.weight", type: .f32, values: Tensor.zeros([8, 32]))
    try expectRejected(misshapen, field: "tensor 'blk.0.attn_k.weight'.ne")

    var extra = Self.writer()
    extra.tensors.append(
      GGUFTensor(name: "blk.0.extra.weight", type: .f32, values: Tensor.zeros([4])))
    try expectRejected(extra, field: "tensor 'blk.0.extra.weight'")

    var qwenWithoutBias = Self.writer(architecture: "qwen2")
    qwenWithoutBias.tensors.removeAll { $0.name == "blk.0.attn_v.bias" }
    try expectRejected(qwenWithoutBias, field: "tensor 'blk.0.attn_v.bias'")

    var ropeFactors = Self.writer()
    ropeFactors.tensors.append(
      GGUFTensor(name: "rope_freqs.weight", type: .f32, values: Tensor.ones([4])))
    try expectRejected(ropeFactors, field: "tensor 'rope_freqs.weight'")

    var noEmbedding = Self.writer()
    noEmbedding.tensors.removeAll { $0.name == "token_embd.weight" }
    try expectRejected(noEmbedding, field: "tensor 'token_embd.weight'")

    var notFinite = Self.writer()
    let norm = notFinite.tensors.firstIndex { $0.name == "output_norm.weight" }!
    notFinite.tensors[norm] = GGUFTensor(
      name: "output_norm.weight", type: .f32,
      values: Tensor([Float](repeating: .infinity, count: 32), shape: [32]))
    try expectRejected(notFinite, field: "tensor 'output_norm.weight'")
  }

  @Test func aByteLevelVocabularyIsRefusedWhereASentencepieceModelIsNeeded() throws {
    let path = try temporaryDirectory("gguf-tokenizer") + "/model.gguf"
    var writer = Self.writer()
    writer.set("tokenizer.ggml.model", .string("gpt2"))
    try writer.write(to: path)
    #expect {
      _ = try ModelDirectory(path: path).loadTokenizer()
    } throws: { error in
      "\(error)".contains(path) && "\(error)".contains("tokenizer.ggml.model is \"gpt2\"")
    }
  }
}
