import Foundation
import MiniTensor

/// A Hugging Face model directory: `config.json`, `model.safetensors` (or shards listed in
/// `model.safetensors.index.json`), `generation_config.json`, and tokenizer files. The path may
/// also be a GGUF file (``isGGUFFile``), whose configuration and weights load the same way.
///
/// Loading validates the configuration and every weight's presence and shape against it; saving
/// writes each file atomically so `transformers.LlamaForCausalLM.from_pretrained` and llama.cpp's
/// converter read the directory as it is.
public struct ModelDirectory: Sendable {
  /// The directory.
  public let path: String

  /// A directory at `path` (not read until asked).
  public init(path: String) { self.path = path }

  /// The path of `name` inside the directory.
  public func file(_ name: String) -> String {
    URL(fileURLWithPath: path).appendingPathComponent(name).path
  }

  /// Reads and validates `config.json` (or, when ``path`` is a GGUF file, its metadata).
  public func loadConfig() throws -> LlamaConfig {
    if isGGUFFile { return try LlamaConfig(gguf: GGUFReader(path: path)) }
    let configPath = file("config.json")
    guard FileManager.default.fileExists(atPath: configPath) else {
      throw ModelDirectoryError(path: configPath, "not found; is \(path) a model directory?")
    }
    return try LlamaConfig.load(contentsOf: configPath)
  }

  /// Memory-maps the weights and checks them against `config`: every expected tensor present
  /// with its shape, nothing unexpected. F32 weights are zero-copy views of the mapped files;
  /// F16 and BF16 ones are converted. A GGUF file's tensors are dequantised (``loadGGUF()``).
  /// A tied model may also carry `lm_head.weight` (equal to the embedding), which is ignored.
  public func loadWeights(for config: LlamaConfig) throws -> [String: Tensor] {
    if isGGUFFile { return try Self.ggufWeights(GGUFReader(path: path), config: config) }
    let files = try weightFiles()
    var owner: [String: SafeTensorsFile] = [:]
    for (name, file) in files {
      owner[name] = file
    }
    var result: [String: Tensor] = [:]
    let expected = config.tensorShapes
    let expectedNames = Set(expected.map(\.name))
    for (name, shape) in expected {
      guard let file = owner[name], let info = file.info(named: name) else {
        throw ModelDirectoryError(
          path: path, tensor: name, "missing weight (expected shape \(shape))")
      }
      guard info.shape == shape else {
        throw ModelDirectoryError(
          path: file.path, tensor: name,
          "shape \(info.shape) does not match the config, which needs \(shape)")
      }
      result[name] = try file.tensor(named: name)
    }
    for name in owner.keys.sorted() where !expectedNames.contains(name) {
      if config.tieWordEmbeddings && name == "lm_head.weight" { continue }
      if name.hasSuffix("rotary_emb.inv_freq") { continue }
      throw ModelDirectoryError(
        path: owner[name]!.path, tensor: name, "unexpected tensor for this config")
    }
    return result
  }

  /// Each tensor name with the opened file that holds it.
  func weightFiles() throws -> [(String, SafeTensorsFile)] {
    let single = file("model.safetensors")
    let indexPath = file("model.safetensors.index.json")
    if FileManager.default.fileExists(atPath: single) {
      let opened = try SafeTensorsFile(path: single)
      return opened.names.map { ($0, opened) }
    }
    guard FileManager.default.fileExists(atPath: indexPath) else {
      throw ModelDirectoryError(
        path: path, "neither model.safetensors nor model.safetensors.index.json is present")
    }
    let map = try Self.readIndex(indexPath)
    var opened: [String: SafeTensorsFile] = [:]
    var result: [(String, SafeTensorsFile)] = []
    for (name, shard) in map.sorted(by: { $0.key < $1.key }) {
      if opened[shard] == nil {
        let shardPath = file(shard)
        guard FileManager.default.fileExists(atPath: shardPath) else {
          throw ModelDirectoryError(
            path: indexPath, tensor: name, "its shard \(shard) is missing")
        }
        opened[shard] = try SafeTensorsFile(path: shardPath)
      }
      guard opened[shard]!.contains(name) else {
        throw ModelDirectoryError(
          path: file(shard), tensor: name, "listed in the index but absent from the shard")
      }
      result.append((name, opened[shard]!))
    }
    return result
  }

  /// The `weight_map` of a sharded checkpoint's index.
  static func readIndex(_ indexPath: String) throws -> [String: String] {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: indexPath))
    } catch {
      throw ModelDirectoryError(path: indexPath, "cannot read: \(error.localizedDescription)")
    }
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
      throw ModelDirectoryError(path: indexPath, "not a JSON object")
    }
    guard let map = object["weight_map"] as? [String: Any] else {
      throw ModelDirectoryError(path: indexPath, "field 'weight_map' missing or not an object")
    }
    var result: [String: String] = [:]
    for (name, value) in map {
      guard let shard = value as? String, !shard.isEmpty, !shard.contains("/"),
        shard != ".", shard != ".."
      else {
        throw ModelDirectoryError(
          path: indexPath, tensor: name,
          "field 'weight_map' must map to a file name in the directory")
      }
      result[name] = shard
    }
    return result
  }

  /// Writes `config.json`, `model.safetensors` (the weights in `config.tensorShapes` order, F32)
  /// and `generation_config.json`, each atomically; creates the directory when needed.
  /// - Parameter weights: every tensor of `config.tensorShapes`, by name.
  public func save(config: LlamaConfig, weights: [String: Tensor], metadata: [String: String] = [:])
    throws
  {
    try config.validate()
    var entries: [SafeTensorsEntry] = []
    for (name, shape) in config.tensorShapes {
      guard let tensor = weights[name] else {
        throw ModelDirectoryError(path: path, tensor: name, "missing from the weights to save")
      }
      precondition(tensor.shape == shape, "save: \(name) has shape \(tensor.shape), not \(shape)")
      entries.append(SafeTensorsEntry(name, tensor))
    }
    do {
      try FileManager.default.createDirectory(
        atPath: path, withIntermediateDirectories: true)
    } catch {
      throw ModelDirectoryError(path: path, "cannot create: \(error.localizedDescription)")
    }
    var fullMetadata = metadata
    fullMetadata["format"] = "pt"
    try SafeTensors.write(entries, metadata: fullMetadata, to: file("model.safetensors"))
    try writeJSON(config.jsonData(), to: "config.json")
    var generation: [String: Any] = ["_from_model_config": true, "transformers_version": "4.46.0"]
    if let bos = config.bosTokenId { generation["bos_token_id"] = bos }
    if config.eosTokenIds.count == 1 {
      generation["eos_token_id"] = config.eosTokenIds[0]
    } else if !config.eosTokenIds.isEmpty {
      generation["eos_token_id"] = config.eosTokenIds
    }
    if let pad = config.padTokenId { generation["pad_token_id"] = pad }
    try writeJSON(
      JSONSerialization.data(withJSONObject: generation, options: [.prettyPrinted, .sortedKeys]),
      to: "generation_config.json")
  }

  /// Writes `data` to `name` in the directory atomically.
  public func writeJSON(_ data: Data, to name: String) throws {
    try writeFileAtomically(to: file(name)) { sink in
      try data.withUnsafeBytes { try sink.write($0) }
    }
  }
}

/// A model directory that cannot be read or written; names the file and, when relevant, the
/// tensor.
public struct ModelDirectoryError: Error, CustomStringConvertible {
  /// The file or directory.
  public let path: String
  /// The tensor concerned, if any.
  public let tensor: String?
  /// What is wrong.
  public let message: String

  init(path: String, tensor: String? = nil, _ message: String) {
    self.path = path
    self.tensor = tensor
    self.message = message
  }

  public var description: String {
    if let tensor { return "\(path): tensor '\(tensor)': \(message)" }
    return "\(path): \(message)"
  }
}
