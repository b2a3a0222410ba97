import Foundation
import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// `Tests/Fixtures/<name>` in this repository.
func fixturePath(_ name: String, file: String = #filePath) -> String {
  URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures").appendingPathComponent(name).path
}

@Suite("ModelDirectory")
struct ModelDirectoryTests {
  static let fixtures = [
    "hf-tiny-llama", "llama-tied-gqa4", "llama-llama3-rope", "llama-linear-rope",
  ]

  @Test(arguments: fixtures)
  func loadsTransformersDirectories(name: String) throws {
    let directory = ModelDirectory(path: fixturePath(name))
    let config = try directory.loadConfig()
    let weights = try directory.loadWeights(for: config)
    #expect(weights.count == config.tensorShapes.count)
    for (tensorName, shape) in config.tensorShapes {
      #expect(weights[tensorName]?.shape == shape, "\(tensorName)")
    }
  }

  @Test(arguments: fixtures)
  func saveLoadSaveIsByteIdentical(name: String) throws {
    let source = ModelDirectory(path: fixturePath(name))
    let config = try source.loadConfig()
    let weights = try source.loadWeights(for: config)
    let first = ModelDirectory(path: try temporaryDirectory())
    try first.save(config: config, weights: weights)
    let reloadedConfig = try first.loadConfig()
    #expect(reloadedConfig == config)
    let reloaded = try first.loadWeights(for: reloadedConfig)
    for (tensorName, tensor) in weights {
      #expect(reloaded[tensorName] == tensor, "\(tensorName)")
    }
    let second = ModelDirectory(path: try temporaryDirectory())
    try second.save(config: reloadedConfig, weights: reloaded)
    for file in ["config.json", "model.safetensors", "generation_config.json"] {
      let a = try Data(contentsOf: URL(fileURLWithPath: first.file(file)))
      let b = try Data(contentsOf: URL(fileURLWithPath: second.file(file)))
      #expect(a == b, "\(file) differs after save → load → save")
    }
  }

  @Test func readsShardedCheckpoints() throws {
    let source = ModelDirectory(path: fixturePath("hf-tiny-llama"))
    let config = try source.loadConfig()
    let weights = try source.loadWeights(for: config)
    let directory = ModelDirectory(path: try temporaryDirectory())
    try directory.save(config: config, weights: weights)
    try FileManager.default.removeItem(atPath: directory.file("model.safetensors"))
    let names = config.tensorShapes.map(\.name)
    let halves = [Array(names.prefix(10)), Array(names.dropFirst(10))]
    var map: [String: String] = [:]
    for (i, half) in halves.enumerated() {
      let shard = "model-0000\(i + 1)-of-00002.safetensors"
      try SafeTensors.write(
        half.map { SafeTensorsEntry($0, weights[$0]!) }, to: directory.file(shard))
      for name in half { map[name] = shard }
    }
    let index = try JSONSerialization.data(withJSONObject: ["metadata": [:], "weight_map": map])
    try index.write(to: URL(fileURLWithPath: directory.file("model.safetensors.index.json")))
    let loaded = try directory.loadWeights(for: config)
    for name in names { #expect(loaded[name] == weights[name], "\(name)") }

    // A shard that the index names but that is missing is reported with the tensor.
    try FileManager.default.removeItem(atPath: directory.file("model-00002-of-00002.safetensors"))
    let error = #expect(throws: ModelDirectoryError.self) {
      try directory.loadWeights(for: config)
    }
    #expect(error?.description.contains("model-00002-of-00002.safetensors") == true)
  }

  @Test func missingAndMisshapenWeightsNameTheTensor() throws {
    let source = ModelDirectory(path: fixturePath("hf-tiny-llama"))
    let config = try source.loadConfig()
    var weights = try source.loadWeights(for: config)
    let directory = ModelDirectory(path: try temporaryDirectory())

    weights.removeValue(forKey: "model.layers.1.mlp.up_proj.weight")
    try SafeTensors.write(
      weights.map { SafeTensorsEntry($0.key, $0.value) }, to: directory.file("model.safetensors"))
    try config.jsonData().write(to: URL(fileURLWithPath: directory.file("config.json")))
    var error = #expect(throws: ModelDirectoryError.self) { try directory.loadWeights(for: config) }
    #expect(error?.tensor == "model.layers.1.mlp.up_proj.weight")

    weights["model.layers.1.mlp.up_proj.weight"] = Tensor.zeros([176, 63])
    try SafeTensors.write(
      weights.map { SafeTensorsEntry($0.key, $0.value) }, to: directory.file("model.safetensors"))
    error = #expect(throws: ModelDirectoryError.self) { try directory.loadWeights(for: config) }
    #expect(error?.tensor == "model.layers.1.mlp.up_proj.weight")
    #expect(error?.description.contains("[176, 64]") == true)

    weights["model.layers.1.mlp.up_proj.weight"] = Tensor.zeros([176, 64])
    weights["model.layers.2.mlp.up_proj.weight"] = Tensor.zeros([176, 64])
    try SafeTensors.write(
      weights.map { SafeTensorsEntry($0.key, $0.value) }, to: directory.file("model.safetensors"))
    error = #expect(throws: ModelDirectoryError.self) { try directory.loadWeights(for: config) }
    #expect(error?.tensor == "model.layers.2.mlp.up_proj.weight")
  }

  @Test func missingConfigNamesTheFile() throws {
    let directory = ModelDirectory(path: try temporaryDirectory())
    let error = #expect(throws: ModelDirectoryError.self) { try directory.loadConfig() }
    #expect(error?.description.contains("config.json") == true)
  }
}
