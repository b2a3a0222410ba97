import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor

extension RewardModel {
  /// A reward model whose trunk is the decoder of a causal language model directory (an SFT
  /// model; its `lm_head` is left out) and whose head is fresh, drawn from `seed`.
  /// - Throws: `ModelDirectoryError` or `LlamaConfigError` naming the file, key or tensor.
  public convenience init(languageModelDirectory path: String, seed: UInt64 = 0) throws {
    try self.init(languageModel: try Llama(directory: path), seed: seed)
  }

  /// A reward model whose trunk is a copy of `model`'s decoder (its `lm_head` is left out) and
  /// whose head is fresh, drawn from `seed`.
  public convenience init(languageModel model: Llama, seed: UInt64 = 0) throws {
    self.init(config: model.config, seed: seed)
    var weights = model.weights
    weights.removeValue(forKey: "lm_head.weight")
    weights[Self.headName] = score.value
    try arena.load(weights)
  }

  /// Loads a reward model directory written by ``save(to:)`` (or by `transformers` for a
  /// one-label `LlamaForSequenceClassification`).
  /// - Throws: ``CheckpointError`` naming the file when it is not such a directory, when a
  ///   weight is missing or has the wrong shape; `LlamaConfigError` for a bad `config.json`.
  public convenience init(directory path: String) throws {
    let directory = ModelDirectory(path: path)
    let config = try directory.loadConfig()
    let configPath = directory.file("config.json")
    let object =
      (try? JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: configPath)))) as? [String: Any] ?? [:]
    let architectures = object["architectures"] as? [String] ?? []
    guard architectures.contains(Self.architecture) else {
      throw CheckpointError(
        path: configPath,
        "'architectures' is \(architectures), not [\"\(Self.architecture)\"]: not a reward model "
          + "(a language model directory starts a reward model with `minillm reward --model`)")
    }
    let labels = (object["num_labels"] as? Int) ?? (object["id2label"] as? [String: Any])?.count
    guard labels == nil || labels == 1 else {
      throw CheckpointError(
        path: configPath, "the classifier has \(labels!) labels; a reward model has 1")
    }
    self.init(config: config)
    let weightsPath = directory.file("model.safetensors")
    let tensors = try SafeTensorsFile(path: weightsPath).loadAll()
    do {
      try arena.load(tensors)
    } catch {
      throw CheckpointError(path: weightsPath, "\(error)")
    }
  }

  /// Writes `config.json` (the trunk's configuration as `LlamaForSequenceClassification` with
  /// one label) and `model.safetensors` (every weight, F32) into `path`, each atomically;
  /// creates the directory when needed.
  public func save(to path: String) throws {
    let directory = ModelDirectory(path: path)
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw CheckpointError(path: path, "cannot create: \(error.localizedDescription)")
    }
    try SafeTensors.write(
      arena.parameters.map { SafeTensorsEntry($0.name, $0.value) },
      metadata: ["format": "pt"], to: directory.file("model.safetensors"))
    guard var object = try JSONSerialization.jsonObject(with: config.jsonData()) as? [String: Any]
    else { throw CheckpointError(path: path, "cannot encode config.json") }
    object["architectures"] = [Self.architecture]
    object["num_labels"] = 1
    object["id2label"] = ["0": "LABEL_0"]
    object["label2id"] = ["LABEL_0": 0]
    try directory.writeJSON(
      JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]),
      to: "config.json")
  }
}
