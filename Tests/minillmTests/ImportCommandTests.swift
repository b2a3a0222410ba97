import Foundation
import MiniLlama
import MiniTensor
import PipelineTestSupport
import TestSupport
import Testing

/// `--model F.gguf` and `minillm import gguf`.
@Suite struct ImportCommandTests {
  /// A GGUF file of a random tiny `llama` model, written with llama.cpp's names and q/k rows.
  func ggufFile(config: LlamaConfig = tinyConfig(), vocabulary: GGUFVocabulary? = nil) throws
    -> String
  {
    let weights = Llama(config: config, seed: 4).weights
    var writer = GGUFWriter()
    writer.set("general.architecture", .string("llama"))
    for (key, value) in [
      ("block_count", config.layerCount), ("context_length", config.maxPositions),
      ("embedding_length", config.hiddenSize), ("feed_forward_length", config.intermediateSize),
      ("attention.head_count", config.headCount), ("attention.head_count_kv", config.kvHeadCount),
    ] {
      writer.set("llama.\(key)", .uint32(UInt32(value)))
    }
    writer.set("llama.attention.layer_norm_rms_epsilon", .float32(config.rmsNormEps))
    if let vocabulary {
      for (key, value) in vocabulary.metadata { writer.set(key, value) }
    } else {
      writer.set("tokenizer.ggml.model", .string("llama"))
    }
    var tensors = [
      GGUFTensor(
        name: "token_embd.weight", type: .q8_0, values: weights["model.embed_tokens.weight"]!)
    ]
    for i in 0..<config.layerCount {
      for (gguf, hf) in [
        ("attn_norm", "input_layernorm"), ("attn_q", "self_attn.q_proj"),
        ("attn_k", "self_attn.k_proj"), ("attn_v", "self_attn.v_proj"),
        ("attn_output", "self_attn.o_proj"), ("ffn_norm", "post_attention_layernorm"),
        ("ffn_gate", "mlp.gate_proj"), ("ffn_up", "mlp.up_proj"), ("ffn_down", "mlp.down_proj"),
      ] {
        let values = weights["model.layers.\(i).\(hf).weight"]!
        tensors.append(
          GGUFTensor(
            name: "blk.\(i).\(gguf).weight", type: values.shape.count == 1 ? .f32 : .f16,
            values: values))
      }
    }
    tensors.append(
      GGUFTensor(name: "output_norm.weight", type: .f32, values: weights["model.norm.weight"]!))
    tensors.append(
      GGUFTensor(name: "output.weight", type: .f16, values: weights["lm_head.weight"]!))
    writer.tensors = tensors
    let path = try temporaryDirectory("cli-gguf") + "/model.gguf"
    try writer.write(to: path)
    return path
  }

  @Test func forwardOnAGGUFEqualsForwardOnItsImportedDirectory() throws {
    guard let executable = minillmExecutable() else { return }
    let file = try ggufFile()
    let out = try temporaryDirectory("cli-import") + "/model"
    let imported = try runMinillmCapturing(executable, ["import", "gguf", file, "--out", out])
    #expect(imported.status == 0, "\(imported.error)")
    #expect(imported.error.contains("LlamaForCausalLM"))
    #expect(imported.error.contains("no tokenizer files"), "a vocabulary without tokens")
    let again = try runMinillmCapturing(executable, ["import", "gguf", file, "--out", out])
    #expect(again.status != 0 && again.error.contains("--overwrite"))

    let ids = "1,5,9,33,2"
    let fromFile = try runMinillmCapturing(
      executable, ["forward", "--model", file, "--ids", ids, "--json"])
    let fromDirectory = try runMinillmCapturing(
      executable, ["forward", "--model", out, "--ids", ids, "--json"])
    #expect(fromFile.status == 0, "\(fromFile.error)")
    // The file computes in llama.cpp's arithmetic (RoPE angles, SiLU), the directory in
    // `transformers'`: the same weights, logits within a few Float roundings.
    func logits(_ output: String) throws -> [[Double]] {
      let json = try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [String: Any]
      return try #require(json?["logits"] as? [[Double]])
    }
    let (a, b) = (try logits(fromFile.output), try logits(fromDirectory.output))
    #expect(!a.isEmpty && a.count == b.count)
    for (x, y) in zip(a, b) {
      let scale = y.map(abs).max() ?? 1
      let difference = zip(x, y).map { abs($0 - $1) }.max() ?? 0
      #expect(difference <= 1e-5 * scale, "logits differ by \(difference) of \(scale)")
    }

    let text = try runMinillmCapturing(executable, ["generate", "--model", file, "--prompt", "hi"])
    #expect(text.status != 0)
    #expect(text.error.contains("--model") && text.error.contains("tokenizer.ggml.model"))
    let notGGUF = try runMinillmCapturing(
      executable, ["import", "gguf", out + "/config.json", "--out", out + "2"])
    #expect(notGGUF.status != 0 && notGGUF.error.contains("not a GGUF file"))
  }

  @Test func importWritesTheVocabularyAsTokenizerFiles() throws {
    guard let executable = minillmExecutable() else { return }
    let tokenizer = try tinyChatTokenizer()
    let config = tinyConfig(vocabulary: tokenizer.vocabularySize, maxPositions: 64)
    let folder = try temporaryDirectory("cli-gguf-vocab")
    try tokenizer.write(to: folder + "/tokenizer.model")
    var vocabulary = try GGUFVocabulary(directory: ModelDirectory(path: folder), config: config)
    vocabulary.chatTemplate =
      "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    let file = try ggufFile(config: config, vocabulary: vocabulary)
    let out = try temporaryDirectory("cli-import-vocab") + "/model"
    let imported = try runMinillmCapturing(executable, ["import", "gguf", file, "--out", out])
    #expect(imported.status == 0, "\(imported.error)")
    #expect(imported.error.contains("tokenizer.model, tokenizer.json, tokenizer_config.json"))
    let fromFile = try ModelDirectory(path: file).loadPretrainedTokenizer()
    let fromDirectory = try ModelDirectory(path: out).loadPretrainedTokenizer()
    let text = chatTrainingLines(count: 20).joined(separator: "\n") + "<|im_start|>user\nhi 🙂"
    #expect(try fromDirectory.encodePrompt(text) == fromFile.encodePrompt(text))
    #expect(fromDirectory.addsBOS && fromDirectory.chatTemplate == vocabulary.chatTemplate)
    let reread = try ModelDirectory(path: out).loadTokenizer()
    #expect(try reread.encode(text) == tokenizer.encode(text), "tokenizer.model encodes as trained")
  }
}
