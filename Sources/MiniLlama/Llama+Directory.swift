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
  /// q4_1, q8_0, q4_K or q6_K keep their blocks (``LinearWeight/ggml(_:name:)``), multiplied
  /// as llama.cpp multiplies them, so decoding reads the quantized bytes. The other types are
  /// dequantised to `Float`. The arena still holds every weight dequantised, so ``weights`` and
  /// ``save(to:)`` see the file's values; such a model cannot be trained (``isTrainable``).
  /// - Throws: `ModelDirectoryError`, `LlamaConfigError` or `GGUFError` naming the file, key or
  ///   tensor.
  public static func forInference(directory path: String) throws -> Llama {
    let directory = ModelDirectory(path: path)
    guard directory.isGGUFFile else { return try Llama(directory: path) }
    let reader = try GGUFReader(path: path)
    let config = try LlamaConfig(gguf: reader)
    var (dense, blocks) = try ModelDirectory.ggufWeights(
      reader, config: config, keepingBlocks: true)
    for (name, matrix) in blocks where dense[name] == nil { dense[name] = matrix.dequantized() }
    let model = Llama(config: config, uninitialized: ())
    do {
      try model.arena.load(dense)
    } catch {
      throw ModelDirectoryError(path: path, "\(error)")
    }
    return model.mappingLinearWeights { weight in
      guard let matrix = blocks[weight.name] else { return weight }
      return .ggml(matrix, name: weight.name)
    }
  }

  /// A model for `config` with zeroed weights, to be loaded.
  convenience init(config: LlamaConfig, uninitialized: Void) {
    self.init(config: config, seed: 0)
  }

  /// The weights by Hugging Face name (views of the arena, no copy).
  public var weights: [String: Tensor] {
    Dictionary(uniqueKeysWithValues: arena.parameters.map { ($0.name, $0.value) })
  }

  /// Writes `config.json`, `model.safetensors` and `generation_config.json` into `path`.
  public func save(to path: String) throws {
    try ModelDirectory(path: path).save(config: config, weights: weights)
  }
}
