import Foundation
import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// Model files written to break the readers: `config.json` sizes that overflow or ask for
/// absurd memory, GGUF files whose tensor infos no longer describe their data, model folders
/// whose weights do not match their config. Each must be one clear error, never a crash.
@Suite("Hostile model files")
struct HostileModelFileTests {
  static var base: [String: Any] { LlamaConfigTests.base }

  /// Decodes `changes` over the base config and expects an error naming `key`.
  func expectRejected(
    _ changes: [String: Any], key: String, sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    var object = Self.base
    for (k, v) in changes { object[k] = v }
    let data = try JSONSerialization.data(withJSONObject: object)
    do {
      let config = try JSONDecoder().decode(LlamaConfig.self, from: data)
      Issue.record(
        "accepted \(config); expected an error naming \(key)", sourceLocation: sourceLocation)
    } catch let error as LlamaConfigError {
      guard case .invalid(let named, _) = error else {
        Issue.record("unexpected \(error)", sourceLocation: sourceLocation)
        return
      }
      #expect(named == key, "\(error)", sourceLocation: sourceLocation)
    }
  }

  @Test func maxPositionEmbeddingsIsBounded() throws {
    // 2³¹ positions: 137 GB of RoPE tables; 2⁶² overflows the table size.
    try expectRejected(["max_position_embeddings": 1 << 31], key: "max_position_embeddings")
    try expectRejected(["max_position_embeddings": 1 << 62], key: "max_position_embeddings")
    try expectRejected(["max_position_embeddings": 0], key: "max_position_embeddings")
  }

  @Test func headSizesCannotOverflow() throws {
    try expectRejected(["head_dim": 1 << 61], key: "head_dim")
    try expectRejected(
      ["num_attention_heads": 1 << 61, "head_dim": 16], key: "num_attention_heads")
    try expectRejected(
      ["num_attention_heads": 4096, "num_key_value_heads": 4096, "head_dim": 4096],
      key: "head_dim")
  }

  @Test func layerCountIsBounded() throws {
    // 2³¹ layers used to build billions of tensor names before anything was allocated.
    try expectRejected(["num_hidden_layers": 1 << 31], key: "num_hidden_layers")
  }

  @Test func parameterCountIsBounded() throws {
    try expectRejected(
      ["vocab_size": 1 << 24, "hidden_size": 1 << 20, "num_attention_heads": 4096],
      key: "num_hidden_layers")
    try expectRejected(["vocab_size": Int(Int32.max) + 1], key: "vocab_size")
  }

  @Test func ropeThetaMustBeAboveOneAsAFloat() throws {
    // 1e-46 is a positive Double but 0 as a Float: every logit came out NaN.
    try expectRejected(["rope_theta": 1e-46], key: "rope_theta")
    try expectRejected(["rope_theta": 1.0], key: "rope_theta")
    try expectRejected(["rope_theta": 1e39], key: "rope_theta")
  }

  @Test func unparsableConfigNamesTheFileAndThePosition() throws {
    let directory = try temporaryDirectory()
    let path = directory + "/config.json"
    try Data("{\n  \"vocab_size\": 256,\n  \"hidden_size\": x\n}".utf8)
      .write(to: URL(fileURLWithPath: path))
    do {
      _ = try LlamaConfig.load(contentsOf: path)
      Issue.record("parsed broken JSON")
    } catch {
      let text = "\(error)"
      #expect(text.contains(path), "\(text)")
      #expect(text.contains("line 3"), "\(text)")
    }
  }

  @Test func configNested100000DeepIsOneClearError() throws {
    let path = try temporaryDirectory() + "/config.json"
    let depth = 100_000
    let text =
      "{\"vocab_size\": " + String(repeating: "[", count: depth)
      + String(repeating: "]", count: depth) + "}"
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    #expect {
      _ = try LlamaConfig.load(contentsOf: path)
    } throws: { error in
      "\(error)".contains(path)
    }
  }

  /// A tiny valid model folder.
  func writeModel(_ config: LlamaConfig) throws -> String {
    let directory = try temporaryDirectory()
    try Llama(config: config, seed: 3).save(to: directory)
    return directory
  }

  static let tiny = LlamaConfig(
    vocabSize: 32, hiddenSize: 16, intermediateSize: 24, layerCount: 1, headCount: 2,
    maxPositions: 8)

  @Test func configPromisingOtherSizesThanTheWeightsIsRejected() throws {
    let directory = try writeModel(Self.tiny)
    var config =
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: directory + "/config.json"))) as! [String: Any]
    config["hidden_size"] = 32
    config["head_dim"] = 16
    config["num_hidden_layers"] = 4000
    try JSONSerialization.data(withJSONObject: config).write(
      to: URL(fileURLWithPath: directory + "/config.json"))
    do {
      _ = try Llama(directory: directory)
      Issue.record("loaded weights that do not match config.json")
    } catch let error as ModelDirectoryError {
      #expect("\(error)".contains("model.embed_tokens.weight"), "\(error)")
    }
  }

  /// Two f32 tensors of 8 values, each in its own 32-byte block.
  func twoTensors(count: UInt64 = 2, firstDims: [UInt64] = [8]) -> RawGGUF {
    var raw = RawGGUF.header(tensorCount: count, kvCount: 0)
    raw.tensor("a", dims: firstDims, type: 0, offset: 0)
    raw.tensor("b", dims: [8], type: 0, offset: 32)
    while raw.bytes.count % 32 != 0 { raw.bytes.append(0) }
    raw.bytes += [UInt8](repeating: 0x3F, count: 64)
    return raw
  }

  func readGGUF(_ raw: RawGGUF) throws -> GGUFReader {
    let path = try temporaryDirectory("gguf") + "/model.gguf"
    try Data(raw.bytes).write(to: URL(fileURLWithPath: path))
    return try GGUFReader(path: path)
  }

  @Test func ggufWithALoweredTensorCountIsRejected() throws {
    #expect(try readGGUF(twoTensors()).tensors.count == 2)
    #expect {
      _ = try readGGUF(twoTensors(count: 1))
    } throws: { error in
      (error as? GGUFError)?.field == "tensor_count"
    }
  }

  @Test func ggufWithAShrunkenDimensionIsRejected() throws {
    // 8 → 4 values: 16 bytes of data become "padding" that is not zeros.
    #expect {
      _ = try readGGUF(twoTensors(firstDims: [4]))
    } throws: { error in
      (error as? GGUFError)?.field == "tensor 'b'.offset"
    }
    // 8 → [2, 2]: the same, through a second dimension.
    #expect(throws: GGUFError.self) { _ = try readGGUF(twoTensors(firstDims: [2, 2])) }
  }

  @Test func ggufClaimingTerabytesIsRejectedWithoutAllocating() throws {
    var raw = RawGGUF.header(tensorCount: 1, kvCount: 0)
    raw.tensor("huge", dims: [1 << 20, 1 << 20], type: 0, offset: 0)
    raw.data(64)
    #expect {
      _ = try readGGUF(raw)
    } throws: { error in
      (error as? GGUFError)?.field.hasPrefix("tensor 'huge'") == true
    }
  }

  @Test func safetensorsClaimingTerabytesIsRejectedWithoutAllocating() throws {
    let header =
      #"{"w": {"dtype": "F32", "shape": [1048576, 1048576], "data_offsets": [0, 4398046511104]}}"#
    var bytes = withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { Array($0) }
    bytes += Array(header.utf8) + [UInt8](repeating: 0, count: 64)
    let path = try temporaryDirectory() + "/model.safetensors"
    try Data(bytes).write(to: URL(fileURLWithPath: path))
    #expect(throws: SafeTensorsError.self) { _ = try SafeTensorsFile(path: path) }
  }
}
