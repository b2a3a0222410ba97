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
