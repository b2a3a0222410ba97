import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// A GGUF file that the `gguf` Python package writes as llama.cpp's converter lays it out
/// (names, metadata, llama's q/k rows permuted, qwen2's not) from a random `transformers` model,
/// every matrix stored as one ggml type; with each tensor as gguf-py's `dequantize` reads it
/// and transformers' logits on those dequantised weights.
struct GGUFPythonModel {
  static let script = """
    import json, sys, numpy as np, torch, gguf
    from gguf import GGMLQuantizationType as Q
    from transformers import LlamaConfig, Qwen2Config, AutoModelForCausalLM
    from safetensors.numpy import save_file
    arch, out, tied, qname = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4]
    ids = torch.tensor(json.loads(sys.argv[5]))
    qtype = Q[qname]
    torch.manual_seed(5)
    rng = np.random.default_rng(5)
    heads, kv = 4, 2
    common = dict(vocab_size=67, hidden_size=256, intermediate_size=512, num_hidden_layers=2,
                  num_attention_heads=heads, num_key_value_heads=kv, max_position_embeddings=64,
                  rope_theta=10000.0, rms_norm_eps=1e-5, tie_word_embeddings=tied,
                  bos_token_id=1, eos_token_id=2)
    config = (Qwen2Config(use_sliding_window=False, **common) if arch == "qwen2"
              else LlamaConfig(**common))
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float()
    def permute(w, n):
        return w.reshape(n, 2, w.shape[0] // n // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    def unpermute(w, n):
        return w.reshape(n, w.shape[0] // n // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)
    # gguf-py quantises the 32-value formats; k-quant blocks are random bytes (every bit pattern
    # is a block) with their Float16 scales set to plausible values: (offsets, scale).
    kblocks = {Q.Q2_K: ([80, 82], 2e-3), Q.Q3_K: ([108], 1e-3), Q.Q4_K: ([0, 2], 1e-4),
               Q.Q5_K: ([0, 2], 5e-5), Q.Q6_K: ([208], 2e-5)}
    def encode(w):
        if qtype in kblocks:
            size, nbytes = gguf.GGML_QUANT_SIZES[qtype]
            blocks = w.shape[0] * w.shape[1] // size
            data = rng.integers(0, 256, size=(blocks, nbytes), dtype=np.uint8)
            offsets, scale = kblocks[qtype]
            for o in offsets:
                d = (np.abs(rng.standard_normal(blocks)) * scale + scale / 10).astype(np.float16)
                data[:, o:o + 2] = d.view(np.uint8).reshape(blocks, 2)
            data = data.reshape(w.shape[0], -1)
        else:
            data = gguf.quants.quantize(w.astype(np.float32), qtype)
        return data, gguf.quants.dequantize(data, qtype).astype(np.float32)
    sd = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    for name in sd:
        if name.endswith("bias"):
            sd[name] = rng.standard_normal(sd[name].shape).astype(np.float32) * 0.5
        elif "norm" in name:
            sd[name] = (1 + 0.1 * rng.standard_normal(sd[name].shape)).astype(np.float32)
        else:
            sd[name] = (rng.standard_normal(sd[name].shape) * 0.05).astype(np.float32)
    writer = gguf.GGUFWriter(out, arch)
    for key, value in [("block_count", 2), ("context_length", 64), ("embedding_length", 256),
                       ("feed_forward_length", 512), ("attention.head_count", heads),
                       ("attention.head_count_kv", kv)]:
        writer.add_uint32(f"{arch}.{key}", value)
    writer.add_float32(f"{arch}.rope.freq_base", 10000.0)
    writer.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", 1e-5)
    writer.add_string("tokenizer.ggml.model", "gpt2")
    writer.add_uint32("tokenizer.ggml.bos_token_id", 1)
    writer.add_uint32("tokenizer.ggml.eos_token_id", 2)
    expected = {}
    def put(gname, hname, heads=None, matrix=True):
        w = sd[hname]
        if heads and arch == "llama": w = permute(w, heads)
        if matrix:
            data, deq = encode(w)
            writer.add_tensor(gname, data, raw_dtype=qtype)
        else:
            deq = w.astype(np.float32)
            writer.add_tensor(gname, deq)
        expected[gname] = deq
        sd[hname] = unpermute(deq, heads) if heads and arch == "llama" else deq
    put("token_embd.weight", "model.embed_tokens.weight")
    for i in range(2):
        g, h = f"blk.{i}.", f"model.layers.{i}."
        put(g + "attn_norm.weight", h + "input_layernorm.weight", matrix=False)
        for short, proj, n in [("attn_q", "q_proj", heads), ("attn_k", "k_proj", kv),
                               ("attn_v", "v_proj", None), ("attn_output", "o_proj", None)]:
            put(g + short + ".weight", h + f"self_attn.{proj}.weight", n)
            if h + f"self_attn.{proj}.bias" in sd:
                put(g + short + ".bias", h + f"self_attn.{proj}.bias", n, matrix=False)
        put(g + "ffn_norm.weight", h + "post_attention_layernorm.weight", matrix=False)
        put(g + "ffn_gate.weight", h + "mlp.gate_proj.weight")
        put(g + "ffn_up.weight", h + "mlp.up_proj.weight")
        put(g + "ffn_down.weight", h + "mlp.down_proj.weight")
    put("output_norm.weight", "model.norm.weight", matrix=False)
    if not tied:
        put("output.weight", "lm_head.weight")
    elif "lm_head.weight" in sd:
        sd["lm_head.weight"] = sd["model.embed_tokens.weight"]
    writer.write_header_to_file(); writer.write_kv_data_to_file()
    writer.write_tensors_to_file(); writer.close()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()})
    with torch.no_grad():
        expected["logits"] = model(ids).logits.numpy().astype(np.float32)
    save_file({k: np.ascontiguousarray(v) for k, v in expected.items()}, out + ".expected")
    """

  let path: String
  let expected: SafeTensorsFile
  let ids: [Int32]

  init(architecture: String, tied: Bool, type: String) throws {
    let python = try PythonRunner.requirePeers(
      importing: ["torch", "transformers", "gguf", "safetensors", "numpy"])
    path = try temporaryDirectory("gguf-\(architecture)-\(type)") + "/model.gguf"
    ids = [1, 5, 9, 66, 33, 2, 0, 18, 40, 12]
    let idsJSON = "[[" + ids.map(String.init).joined(separator: ",") + "]]"
    _ = try python.run([
      "-c", Self.script, architecture, path, tied ? "1" : "0", type, idsJSON,
    ]).get()
    expected = try SafeTensorsFile(path: path + ".expected")
  }
}

@Suite("GGUF import")
struct GGUFImportTests {
  static let cases: [(String, String, Bool)] = [
    ("F32", "llama", false), ("F16", "qwen2", true), ("BF16", "llama", true),
    ("Q8_0", "qwen2", false), ("Q4_0", "llama", false), ("Q4_1", "qwen2", true),
    ("Q5_0", "llama", true), ("Q5_1", "qwen2", false), ("Q2_K", "llama", false),
    ("Q3_K", "qwen2", true), ("Q4_K", "llama", true), ("Q5_K", "qwen2", false),
    ("Q6_K", "llama", false),
  ]

  /// Every tensor dequantises to exactly gguf-py's values, and the model (names, metadata,
  /// q/k rows) gives transformers' logits on those weights.
  @Test(
    .requires(.python("torch", "transformers", "gguf", "safetensors", "numpy")),
    arguments: cases)
  func llamaAndQwen2FilesOfEveryTypeLoad(type: String, architecture: String, tied: Bool) throws {
    let file = try GGUFPythonModel(architecture: architecture, tied: tied, type: type)
    let reader = try GGUFReader(path: file.path)
    for info in reader.tensors {
      let theirs = try file.expected.tensor(named: info.name).scalars
      let ours = reader.values(of: info)
      let firstDifference = ours.indices.first {
        $0 >= theirs.count || ours[$0].bitPattern != theirs[$0].bitPattern
      }
      #expect(
        ours.count == theirs.count && firstDifference == nil,
        "\(type) \(info.name) (\(info.type.name)): first difference at \(firstDifference ?? -1)")
    }
    #expect(reader.tensors.contains { $0.type.name.uppercased() == type })

    let model = try Llama(directory: file.path)
    #expect(model.config.architecture.rawValue == architecture)
    #expect(model.config.tieWordEmbeddings == tied)
    #expect(model.config.bosTokenId == 1 && model.config.eosTokenIds == [2])
    // Tolerance: 1e-4 absolute on every logit (the same Float weights in both programs).
    expectClose(
      model(file.ids).value.scalars, try file.expected.tensor(named: "logits").scalars, rtol: 0,
      atol: 1e-4, "\(type) \(architecture) logits")

    // Import writes a Hugging Face directory that loads back with the same weights.
    let directory = try temporaryDirectory("imported")
    try model.save(to: directory)
    let reloaded = try Llama(directory: directory)
    #expect(reloaded.config == model.config)
    for (name, tensor) in model.weights {
      #expect(reloaded.weights[name]?.scalars == tensor.scalars, "\(name)")
    }
  }

  /// Our own f32 export reads back as the model it came from, bit for bit (the q/k permutation
  /// undone), and an f16 or q8_0 export within that storage's rounding.
  @Test(arguments: [GGMLType.f32, .f16, .q8_0])
  func exportedFilesImportAsTheirModel(type: GGMLType) throws {
    let (directory, config, _) = try GGUFTestModel.directory(
      fixture: "llama-tied-gqa4", initializerRange: 0.1)
    let original = try Llama(directory: directory)
    let path = try temporaryDirectory("roundtrip") + "/model.gguf"
    try ModelDirectory(path: directory).exportGGUF(to: path, options: GGUFExportOptions(type: type))
    let imported = try Llama(directory: path)
    #expect(imported.config.vocabSize == config.vocabSize)
    #expect(imported.config.layerCount == config.layerCount)
    #expect(imported.config.kvHeadCount == config.kvHeadCount)
    #expect(imported.config.tieWordEmbeddings == config.tieWordEmbeddings)
    for (name, tensor) in original.weights {
      let ours = try #require(imported.weights[name], "\(name)").scalars
      let scale = tensor.scalars.map(abs).max() ?? 0
      // Tolerance: exact for f32; the storage's relative rounding of the largest weight
      // otherwise (f16: 2⁻¹¹; q8_0: half a step of max/127 per block, at most max/254, plus
      // the Float16 rounding of the block's scale, at most 127 steps of 2⁻¹¹ of it).
      let atol: Float = type == .f32 ? 0 : type == .f16 ? scale / 2048 : scale / 254 + scale / 1024
      expectClose(ours, tensor.scalars, rtol: 0, atol: atol, "\(type.name) \(name)")
    }
  }
}
