import MiniAutograd
import MiniTensor

extension Llama {
  /// Loads a Hugging Face model directory (`config.json` + `model.safetensors` or shards).
  /// - Throws: `ModelDirectoryError` or `LlamaConfigError` naming the file, key or tensor.
  public convenience init(directory path: String) throws {
    let directory = ModelDirectory(path: path)
    let config = try directory.loadConfig()
    let weights = try directory.loadWeights(for: config)
    self.init(config: config, uninitialized: ())
    do {
      try arena.load(weights)
    } catch {
      throw ModelDirectoryError(path: path, "\(error)")
    }
  }

  /// Loads a model to run (generate, chat, score, serve). A model directory loads as
  /// ``init(directory:)`` does; from a GGUF file the projections and the head stored as q4_0,
  /// q4_1, q5_0, q5_1, q8_0, q4_K, q5_K or q6_K keep their blocks (``LinearWeight/ggml(_:name:)``), multiplied
  /// as llama.cpp multiplies them, so decoding reads the quantized bytes, and the arena holds no
  /// `Float` copy of them: the model takes about the file's size in memory. The other types are
  /// dequantised to `Float`. ``weights`` and ``save(to:)`` see the file's values (blocks
  /// dequantised on demand); such a model cannot be trained (``isTrainable``). A GGUF file's
  /// model computes in llama.cpp's arithmetic (``arithmetic``), so its greedy decoding follows
  /// llama.cpp's with the default half-precision key/value cache, prompts of any length
  /// included (``GGMLMatrix/rowInvariantAtEveryLength()``).
  /// - Throws: `ModelDirectoryError`, `LlamaConfigError` or `GGUFError` naming the file, key or
  ///   tensor.
  public static func forInference(directory path: String) throws -> Llama {
    let directory = ModelDirectory(path: path)
    guard directory.isGGUFFile else { return try Llama(directory: path) }
    let reader = try GGUFReader(path: path)
    let config = try LlamaConfig(gguf: reader)
    let (dense, blocks) = try ModelDirectory.ggufWeights(
      reader, config: config, keepingBlocks: true)
    let provided = Dictionary(
      uniqueKeysWithValues: blocks.map { name, matrix in
        (name, LinearWeight.ggml(matrix.rowInvariantAtEveryLength(), name: name))
      })
    let model = Llama(
      config: config, seed: 0, languageModelHead: true, additionalParameters: [],
      provided: provided, arithmetic: .llamaCpp,
      ropeFrequencyFactors: try LlamaConfig.ropeFrequencyFactors(reader, headDim: config.headDim))
    do {
      try model.arena.load(dense)
    } catch {
      throw ModelDirectoryError(path: path, "\(error)")
    }
    return model
  }

  /// A model for `config` with zeroed weights, to be loaded.
  convenience init(config: LlamaConfig, uninitialized: Void) {
    self.init(config: config, seed: 0)
  }

  /// The weights by Hugging Face name: views of the arena (no copy), and the projections kept
  /// outside it (a GGUF file's blocks) dequantised.
  public var weights: [String: Tensor] {
    var result = Dictionary(uniqueKeysWithValues: arena.parameters.map { ($0.name, $0.value) })
    for weight in linearWeights where result[weight.name] == nil {
      if case .ggml(let matrix, _) = weight { result[weight.name] = matrix.dequantized() }
    }
    return result
  }

  /// Writes `config.json`, `model.safetensors` and `generation_config.json` into `path`.
  public func save(to path: String) throws {
    try ModelDirectory(path: path).save(config: config, weights: weights)
  }
}
