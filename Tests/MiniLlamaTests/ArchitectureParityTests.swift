import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTrain
import TestSupport
import Testing

/// A random tiny checkpoint that `transformers` builds and saves, with its logits, loss and
/// gradients on a batch, for a model family (`qwen2`, `mistral`, `llama` with attention biases),
/// a storage dtype and an optional shard size.
struct TransformersCheckpoint {
  /// Builds the model with seeded random weights (biases and norm gains included, so each
  /// matters), stores it as `dtype` with `save_pretrained`, and computes the reference in
  /// float32 from the stored (rounded) weights.
  static let script = """
    import json, sys, torch
    from transformers import LlamaConfig, MistralConfig, Qwen2Config, AutoModelForCausalLM
    from safetensors.torch import save_file
    kind, out, tied, dtype, shard = sys.argv[1], sys.argv[2], sys.argv[3] == "1", sys.argv[4], sys.argv[5]
    ids = torch.tensor(json.loads(sys.argv[6]))
    torch.manual_seed(11)
    common = dict(vocab_size=67, hidden_size=32, intermediate_size=48, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
                  rope_theta=20000.0, rms_norm_eps=1e-6, tie_word_embeddings=tied)
    if kind == "qwen2":
        config = Qwen2Config(use_sliding_window=False, **common)
    elif kind == "mistral":
        config = MistralConfig(sliding_window=None, **common)
    else:
        config = LlamaConfig(attention_bias=True, **common)
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager").float()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.5)
            elif "norm" in name:
                p.copy_(1 + 0.1 * torch.randn_like(p))
            else:
                p.normal_(0, 0.1)
    stored = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[dtype]
    model = model.to(stored)
    model.save_pretrained(out, **({"max_shard_size": shard} if shard != "none" else {}))
    model = model.float()
    result = model(ids, labels=ids)
    result.loss.backward()
    tensors = {"logits": result.logits.detach().contiguous()}
    for name, p in model.named_parameters():
        tensors["grad." + name] = p.grad.contiguous()
    save_file(tensors, out + "/expected.safetensors")
    print(json.dumps({"loss": result.loss.item(), "class": type(model).__name__}))
    """

  /// Loads a directory with `AutoModelForCausalLM` and prints its class and logits for the ids.
  static let reloadScript = """
    import json, sys, torch
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(sys.argv[1], attn_implementation="eager").float().eval()
    with torch.no_grad():
        logits = model(torch.tensor(json.loads(sys.argv[2]))).logits
    print(json.dumps({"class": type(model).__name__, "logits": logits.flatten().tolist()}))
    """

  let directory: String
  let ids: [[Int32]]
  let logits: Tensor
  let loss: Float
  let className: String
  let gradients: [String: Tensor]

  init(
    kind: String, tied: Bool, dtype: String = "float32", shardSize: String = "none",
    ids: [[Int32]] = [[1, 5, 9, 66, 33, 2, 0, 18], [3, 3, 4, 60, 12, 7, 8, 1]]
  ) throws {
    let python = try PythonRunner.requirePeers(importing: ["torch", "transformers", "safetensors"])
    directory = try temporaryDirectory("hf-\(kind)")
    self.ids = ids
    let output = try python.run([
      "-c", Self.script, kind, directory, tied ? "1" : "0", dtype, shardSize, Self.json(ids),
    ]).get()
    let object = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    loss = Float(try #require(object["loss"] as? Double))
    className = try #require(object["class"] as? String)
    let expected = try SafeTensorsFile(path: directory + "/expected.safetensors")
    logits = try expected.tensor(named: "logits")
    var gradients: [String: Tensor] = [:]
    for name in expected.names where name.hasPrefix("grad.") {
      gradients[String(name.dropFirst(5))] = try expected.tensor(named: name)
    }
    self.gradients = gradients
    try FileManager.default.removeItem(atPath: directory + "/expected.safetensors")
  }

  var flatIds: [Int32] { ids.flatMap { $0 } }

  static func json(_ ids: [[Int32]]) -> String {
    "[" + ids.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",")
      + "]"
  }

  /// Checks `model`'s logits, loss and every gradient against the reference.
  /// - Parameter logitScale: extra tolerance relative to the largest logit (summation order).
  func expectParity(_ model: Llama, _ label: String, logitScale: Float = 0) {
    let batch = ids.count
    // Tolerance: 1e-4 absolute on every logit, plus `logitScale` · max|logit| when given.
    expectCloseScaled(
      model(flatIds, batch: batch).value.scalars, logits.scalars, rtol: logitScale, atol: 1e-4,
      "\(label) logits")
    model.arena.zeroGradients()
    let ours = model.valueAndGradient { tape in
      model.languageModelLoss(flatIds, batch: batch, tape: tape)
    }
    // Tolerance: 1e-5 absolute on the loss.
    #expect(abs(ours - loss) <= 1e-5, "\(label): loss \(ours) vs \(loss)")
    #expect(gradients.count == model.arena.parameters.count, "\(label): parameter count")
    for parameter in model.arena.parameters {
      guard let expected = gradients[parameter.name] else {
        Issue.record("\(label): transformers has no parameter \(parameter.name)")
        continue
      }
      let scale = expected.scalars.map(abs).max() ?? 0
      // Tolerance: 1e-4 absolute, or 1e-3 relative to the tensor's largest gradient.
      expectClose(
        parameter.gradient.scalars, expected.scalars, rtol: 0, atol: max(1e-4, 1e-3 * scale),
        "\(label) gradient of \(parameter.name)")
    }
  }
}

@Suite("Qwen2, Mistral and biased Llama checkpoints against transformers")
struct ArchitectureParityTests {
  /// Qwen2 (q/k/v biases), tied and untied, and Llama with `attention_bias` (q/k/v/o biases):
  /// logits, loss and gradients equal transformers'; our saved directory loads back in
  /// transformers as the same class with the same logits.
  @Test(
    .requires(.python("torch", "transformers", "safetensors")),
    arguments: [("qwen2", false), ("qwen2", true), ("llama", false)])
  func biasedAttentionMatchesTransformers(kind: String, tied: Bool) throws {
    let reference = try TransformersCheckpoint(kind: kind, tied: tied)
    let model = try Llama(directory: reference.directory)
    #expect(model.config.architecture.rawValue == kind)
    #expect(!model.config.biasedProjections.isEmpty)
    #expect(model.config.tieWordEmbeddings == tied)
    reference.expectParity(model, "\(kind) tied=\(tied)")

    // Our save → transformers' load: same class, same logits.
    let saved = try temporaryDirectory("saved-\(kind)")
    try model.save(to: saved)
    let python = try PythonRunner.requirePeers(importing: ["torch", "transformers"])
    let output = try python.run([
      "-c", TransformersCheckpoint.reloadScript, saved, TransformersCheckpoint.json(reference.ids),
    ]).get()
    let object = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    #expect(object["class"] as? String == reference.className)
    let theirs = try #require(object["logits"] as? [Double]).map(Float.init)
    // Tolerance: 1e-4 absolute on every logit.
    expectClose(
      model(reference.flatIds, batch: reference.ids.count).value.scalars, theirs, rtol: 0,
      atol: 1e-4, "\(kind) reloaded by transformers")
    let reloaded = try Llama(directory: saved)
    #expect(reloaded.config == model.config)
  }

  /// A fresh Qwen2-shaped model declares its biases after each projection, at zero, and
  /// trains them with the rest: 20 AdamW steps on one batch lower the loss and move every bias.
  @Test func aQwen2ModelTrainsItsBiases() throws {
    var config = LlamaConfig(
      vocabSize: 50, hiddenSize: 32, intermediateSize: 48, layerCount: 2, headCount: 4,
      kvHeadCount: 2, maxPositions: 32, initializerRange: 0.1)
    config.architecture = .qwen2
    let model = Llama(config: config, seed: 9)
    let names = model.arena.parameters.map(\.name)
    let q = try #require(names.firstIndex(of: "model.layers.0.self_attn.q_proj.weight"))
    #expect(names[q + 1] == "model.layers.0.self_attn.q_proj.bias")
    #expect(!names.contains("model.layers.0.self_attn.o_proj.bias"))
    #expect(model.parameterCount == config.parameterCount)
    let biases = model.arena.parameters.filter { $0.name.hasSuffix(".bias") }
    #expect(biases.count == 6 && biases.allSatisfy { $0.value.scalars.allSatisfy { $0 == 0 } })
    let tokens: [Int32] = (0..<32).map { Int32(($0 * 7 + 3) % 50) }
    var optimizer = AdamW(learningRate: 1e-2, weightDecay: 0)
    var losses: [Float] = []
    for _ in 0..<20 {
      model.arena.zeroGradients()
      losses.append(
        model.valueAndGradient { tape in model.languageModelLoss(tokens, batch: 2, tape: tape) })
      optimizer.update(model.arena)
    }
    #expect(losses.last! < losses.first! - 1, "losses \(losses)")
    #expect(biases.allSatisfy { $0.value.scalars.contains { $0 != 0 } })
  }

  /// Decoding with a KV cache one token at a time gives the logits of the full forward (the
  /// biases are added on the cached path too).
  @Test(.requires(.python("torch", "transformers", "safetensors")))
  func biasedAttentionDecodesAsItPrefills() throws {
    let reference = try TransformersCheckpoint(kind: "qwen2", tied: false)
    let model = try Llama(directory: reference.directory)
    let prompt = reference.ids[0]
    let cache = KVCache(config: model.config, batch: 1, capacity: prompt.count)
    var stepped: [Float] = []
    for token in prompt { stepped += model([token], cache: cache).value.scalars }
    let vocab = model.config.vocabSize
    // Tolerance: 1e-4 absolute on every logit, against transformers' first row.
    expectClose(
      stepped, Array(reference.logits.scalars[0..<(prompt.count * vocab)]), rtol: 0, atol: 1e-4,
      "qwen2 cached decode")
  }

  /// F16 and BF16 checkpoints, single and sharded (`model.safetensors.index.json`), of Mistral
  /// (no sliding window) and Qwen2 load with the logits and gradients transformers computes from
  /// the same rounded weights.
  @Test(
    .requires(.python("torch", "transformers", "safetensors")),
    arguments: [
      ("mistral", "bfloat16", "20KB"), ("mistral", "float16", "none"),
      ("qwen2", "bfloat16", "none"), ("qwen2", "float16", "20KB"),
    ])
  func halfPrecisionAndShardedCheckpointsLoad(kind: String, dtype: String, shards: String) throws {
    let reference = try TransformersCheckpoint(
      kind: kind, tied: kind == "mistral", dtype: dtype, shardSize: shards)
    let files = try FileManager.default.contentsOfDirectory(atPath: reference.directory)
    #expect(files.contains("model.safetensors.index.json") == (shards != "none"))
    let model = try Llama(directory: reference.directory)
    #expect(model.config.architecture.rawValue == kind)
    // The same Float weights in both programs, but rounding them to 8 or 11 bits leaves
    // larger logits, whose summation-order rounding can pass 1e-4 by a little: 2e-5 of the
    // largest logit is allowed on top.
    reference.expectParity(model, "\(kind) \(dtype) shards=\(shards)", logitScale: 2e-5)
  }
}
