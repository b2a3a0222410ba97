import Foundation
import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// Our GGUF files run by llama.cpp (through the `llama_cpp` Python bindings): same greedy tokens
/// and close logits as `Llama` on the same prompts.
@Suite("GGUF export run by llama.cpp")
struct GGUFLlamaCppTests {
  /// Loads the model (f32 KV cache, one thread), and for each prompt of ids prints the logits of
  /// every prompt position, `count` greedy tokens, and llama.cpp's tokenization of each text.
  static let script = """
    import json, sys
    import llama_cpp
    path, request = sys.argv[1], json.loads(sys.argv[2])
    model = llama_cpp.Llama(model_path=path, n_ctx=request["n_ctx"], n_batch=64, n_threads=1,
                            logits_all=True, verbose=False, type_k=0, type_v=0, seed=0)
    n_vocab = model.n_vocab()
    runs = []
    for prompt in request["prompts"]:
        model.reset()
        model.eval(prompt)
        logits = [[float(x) for x in model.scores[i][:n_vocab]] for i in range(len(prompt))]
        model.reset()
        tokens = []
        for token in model.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0,
                                    repeat_penalty=1.0, reset=True):
            tokens.append(int(token))
            if len(tokens) == request["count"]:
                break
        runs.append({"logits": logits, "tokens": tokens})
    texts = [model.tokenize(t.encode("utf-8"), add_bos=False, special=True) for t in request["texts"]]
    print(json.dumps({"runs": runs, "texts": texts, "n_vocab": n_vocab}))
    """

  static let texts = [
    "hello world, the model learns", "床前明月光，疑是地上霜。", "<|im_start|>user\nchat<|im_end|>",
  ]

  @Test(
    .requires(.python("llama_cpp")),
    arguments: ["hf-tiny-llama", "llama-tied-gqa4", "llama-linear-rope", "llama-llama3-rope"])
  func llamaCppGeneratesOurGreedyTokens(fixture: String) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    // Larger weights than the default give peaky logits, so greedy choices are far from ties.
    let (path, config, tokenizer) = try GGUFTestModel.directory(
      fixture: fixture, initializerRange: 0.25, seed: 7)
    let out = try temporaryDirectory("gguf-llamacpp") + "/model.gguf"
    try ModelDirectory(path: path).exportGGUF(to: out, options: GGUFExportOptions(type: .f32))

    let model = try Llama(directory: path)
    let bos = Int32(config.bosTokenId ?? tokenizer.specialIDs.bos ?? 1)
    let prompts: [[Int32]] = try [
      [bos] + tokenizer.encode("hello world").map(Int32.init),
      [bos] + tokenizer.encode("春眠不觉晓，").map(Int32.init),
      tokenizer.encode("the model learns from data").map(Int32.init),
    ]
    let count = 12
    let request: [String: Any] = [
      "n_ctx": config.maxPositions, "count": count, "prompts": prompts.map { $0.map(Int.init) },
      "texts": Self.texts,
    ]
    let requestText = String(
      decoding: try JSONSerialization.data(withJSONObject: request), as: UTF8.self)
    let output = try python.run(["-c", Self.script, out, requestText]).get()
    let json = try #require(try JSONSerialization.jsonObject(with: output) as? [String: Any])
    #expect(json["n_vocab"] as? Int == config.vocabSize)
    let runs = try #require(json["runs"] as? [[String: Any]])
    #expect(runs.count == prompts.count)
    for (prompt, run) in zip(prompts, runs) {
      let ours = model.generate(
        prompt: prompt, options: GenerationOptions(maxNewTokens: count, sampling: .greedy))
      let theirs = try #require(run["tokens"] as? [Int])
      #expect(theirs == ours.map(Int.init), "greedy tokens for prompt \(prompt)")

      let logits = model(prompt).value.reshaped([prompt.count, config.vocabSize])
      let llamaCpp = try #require(run["logits"] as? [[Double]])
      for position in 0..<prompt.count {
        expectClose(
          llamaCpp[position].map(Float.init), logits[row: position].scalars, rtol: 1e-3, atol: 1e-3,
          "logits at position \(position) of \(prompt)")
      }
    }
    let tokenized = try #require(json["texts"] as? [[Int]])
    for (text, theirs) in zip(Self.texts, tokenized) {
      #expect(
        theirs == (try tokenizer.encode(text)), "llama.cpp tokenizes \(text.debugDescription)")
    }
  }

  /// Quantizes a GGUF file to q8_0 with llama.cpp's own `llama_model_quantize`.
  static let quantizeScript = """
    import ctypes, sys
    import llama_cpp
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = 7  # LLAMA_FTYPE_MOSTLY_Q8_0
    params.nthread = 1
    status = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(params))
    sys.exit(1 if status != 0 else 0)
    """

  @Test(.requires(.python("llama_cpp")), arguments: ["hf-tiny-llama", "llama-tied-gqa4"])
  func llamaCppQuantizesOurF32FileToOurQ8_0File(fixture: String) throws {
    let python = try PythonRunner.requirePeers(importing: ["llama_cpp"])
    let (path, _, _) = try GGUFTestModel.directory(fixture: fixture)
    let folder = try temporaryDirectory("gguf-llamacpp")
    let directory = ModelDirectory(path: path)
    try directory.exportGGUF(to: folder + "/f32.gguf", options: GGUFExportOptions(type: .f32))
    try directory.exportGGUF(to: folder + "/q8_0.gguf", options: GGUFExportOptions(type: .q8_0))
    _ = try python.run([
      "-c", Self.quantizeScript, folder + "/f32.gguf", folder + "/llama-cpp.gguf",
    ])
    .get()
    let ours = try GGUFReader(path: folder + "/q8_0.gguf")
    let theirs = try GGUFReader(path: folder + "/llama-cpp.gguf")
    #expect(Set(theirs.tensors.map(\.name)) == Set(ours.tensors.map(\.name)))
    for info in ours.tensors {
      let other = try #require(theirs.tensor(named: info.name))
      #expect(other.type == info.type, "\(info.name): llama.cpp chose \(other.type.name)")
      #expect(other.dimensions == info.dimensions, "\(info.name)")
      #expect(theirs.bytes(of: other) == ours.bytes(of: info), "\(info.name) bytes")
    }
  }
}
