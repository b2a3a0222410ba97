import Foundation
import MiniTensor
import TestSupport
import Testing

extension SafeTensorsTests {
  /// Files written by Python (`transformers`, `safetensors`) read by us, and ours read by Python.
  @Suite("interoperability")
  struct Interoperability {
    /// The fixture written by transformers' and safetensors' own writers (its `fixture.json`
    /// lists what they wrote); `Tests/Fixtures` holds our parity format instead.
    static let fixtureDirectory = sharedPath("fixtures/hf-tiny-llama")

    /// `Tests/Fixtures` of this repository.
    static let repositoryFixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("Fixtures").path

    /// The parameter table of the fixture's README.md.
    static let parameterShapes: [String: [Int]] = {
      var shapes: [String: [Int]] = [
        "model.embed_tokens.weight": [256, 64], "model.norm.weight": [64],
        "lm_head.weight": [256, 64],
      ]
      for layer in 0..<2 {
        let prefix = "model.layers.\(layer)."
        shapes[prefix + "self_attn.q_proj.weight"] = [64, 64]
        shapes[prefix + "self_attn.k_proj.weight"] = [32, 64]
        shapes[prefix + "self_attn.v_proj.weight"] = [32, 64]
        shapes[prefix + "self_attn.o_proj.weight"] = [64, 64]
        shapes[prefix + "mlp.gate_proj.weight"] = [176, 64]
        shapes[prefix + "mlp.up_proj.weight"] = [176, 64]
        shapes[prefix + "mlp.down_proj.weight"] = [64, 176]
        shapes[prefix + "input_layernorm.weight"] = [64]
        shapes[prefix + "post_attention_layernorm.weight"] = [64]
      }
      return shapes
    }()

    /// The fixture directory and its `fixture.json`.
    static func fixture() throws -> (directory: String, json: [String: Any]) {
      let directory = try requireShared("fixtures/hf-tiny-llama")
      let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/fixture.json"))
      let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
      return (directory, json)
    }

    @Test(
      .requires(.shared("fixtures/hf-tiny-llama")), arguments: ["model", "grads", "after_adamw"])
    func readsPythonParameterFiles(_ name: String) throws {
      let (directory, fixture) = try Self.fixture()
      let path = directory + "/\(name).safetensors"
      let file = try SafeTensorsFile(path: path)
      #expect(Set(file.names) == Set(Self.parameterShapes.keys))
      for info in file.tensorInfos {
        #expect(info.dtype == .f32, "\(info.name)")
        #expect(info.shape == Self.parameterShapes[info.name], "\(info.name)")
      }
      let tensors = try file.loadAll()
      for (tensorName, tensor) in tensors {
        #expect(tensor.shape == Self.parameterShapes[tensorName])
        let mapped = try file.withRawBytes(named: tensorName) { $0.baseAddress }
        #expect(firstElementAddress(tensor) == mapped, "\(tensorName) should be zero-copy")
      }
      // RMSNorm weights start at one.
      if name == "model" {
        #expect(tensors["model.norm.weight"]?.scalars == [Float](repeating: 1, count: 64))
      }
      if name == "grads" {
        let loss = try #require(fixture["loss"] as? Double)
        let stored = try #require(file.metadata["loss"].flatMap(Double.init))
        #expect(stored == loss)
        let norms = try #require(fixture["grad_l2_norm"] as? [String: Double])
        for (tensorName, norm) in norms {
          let values = try #require(tensors[tensorName]).scalars
          let computed = values.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
          #expect(abs(computed - norm) <= 1e-5 * norm, "\(tensorName): \(computed) vs \(norm)")
        }
      }
    }

    @Test(.requires(.shared("fixtures/hf-tiny-llama")))
    func readsPythonLogitsAndInputIDs() throws {
      let (directory, fixture) = try Self.fixture()
      let file = try SafeTensorsFile(path: directory + "/logits.safetensors")
      #expect(file.info(named: "input_ids")?.dtype == .i64)
      #expect(file.info(named: "input_ids")?.shape == [2, 16])
      let expectedIDs = try #require(fixture["input_ids"] as? [[Int]])
      #expect(try file.integers(named: "input_ids") == expectedIDs.joined().map(Int64.init))
      #expect(try file.tensor(named: "input_ids").scalars == expectedIDs.joined().map(Float.init))

      let logits = try file.tensor(named: "logits")
      let shape = try #require(fixture["logits_shape"] as? [Int])
      #expect(logits.shape == shape)
      let samples = try #require(fixture["logits_sample"] as? [String: [Double]])
      let rows = ["[0,0,:8]": (0, 0), "[1,15,:8]": (1, 15)]
      for (key, (b, t)) in rows {
        let expected = try #require(samples[key]).map(Float.init)
        let actual = (0..<8).map { logits[b, t, $0] }
        #expect(actual == expected, "logits\(key)")
      }
    }

    /// Every safetensors file under `Tests/Fixtures` (written by PyTorch's `save_file`).
    static let repositoryFiles: [String] = {
      let root = repositoryFixtures
      let found = FileManager.default.enumerator(atPath: root)?.compactMap { $0 as? String } ?? []
      return found.filter { $0.hasSuffix(".safetensors") }.sorted().map { root + "/" + $0 }
    }()

    @Test func readsEveryRepositoryFixture() throws {
      #expect(Self.repositoryFiles.count >= 8, "safetensors files in \(Self.repositoryFixtures)")
      for path in Self.repositoryFiles {
        let file = try SafeTensorsFile(path: path)
        #expect(!file.names.isEmpty, "\(path)")
        let tensors = try file.loadAll()
        var bytes = 0
        for info in file.tensorInfos {
          let tensor = try #require(tensors[info.name])
          #expect(tensor.shape == info.shape, "\(path): \(info.name)")
          bytes += info.byteRange.count
          if info.dtype == .f32 {
            let mapped = try file.withRawBytes(named: info.name) { $0.baseAddress }
            #expect(firstElementAddress(tensor) == mapped, "\(path): \(info.name) not zero-copy")
          }
        }
        let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
        #expect(size == file.bufferStart + bytes, "\(path)")
      }
    }

    /// Runs the peers' Python with `arguments`; its standard output, or `nil` when it cannot run
    /// or fails. Standard error goes to the file `errorPath` when given.
    static func runPython(_ arguments: [String], errorPath: String? = nil) throws -> Data? {
      let python = try PythonRunner.requirePeers(importing: ["safetensors", "numpy"])
      let process = Process()
      process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
      process.arguments = [python.executable] + arguments
      let output = Pipe()
      process.standardOutput = output
      process.standardError = FileHandle.nullDevice
      if let errorPath, FileManager.default.createFile(atPath: errorPath, contents: nil) {
        process.standardError = FileHandle(forWritingAtPath: errorPath)
      }
      do { try process.run() } catch { return nil }
      let data = output.fileHandleForReading.readDataToEndOfFile()
      process.waitUntilExit()
      return process.terminationStatus == 0 ? data : nil
    }

    /// Reads a file with the reference implementation (which validates it), prints every tensor's
    /// dtype, shape and values as JSON, and writes the tensors other than `bf` back with its numpy
    /// writer (numpy has no bfloat16).
    static let pythonCheck = """
      import json, sys
      import numpy as np
      import safetensors
      from safetensors.numpy import save_file
      source, copy = sys.argv[1], sys.argv[2]
      with safetensors.safe_open(source, framework="np") as f:
          metadata = f.metadata()
          arrays = {k: f.get_tensor(k) for k in f.keys() if k != "bf"}
      save_file(arrays, copy, metadata=metadata)
      kinds = {"F32": "<f4", "F16": "<f2", "I32": "<i4", "I64": "<i8", "U8": "u1"}
      out = {}
      for name, info in safetensors.deserialize(open(source, "rb").read()):
          raw = bytes(info["data"])
          if info["dtype"] == "BF16":
              values = (np.frombuffer(raw, "<u2").astype(np.uint32) << 16).view(np.float32)
          else:
              values = np.frombuffer(raw, kinds[info["dtype"]])
          out[name] = {"dtype": info["dtype"], "shape": list(info["shape"]),
                       "values": values.reshape(-1).tolist()}
      numpy = {k: v.tolist() for k, v in arrays.items()}
      print(json.dumps({"metadata": metadata, "tensors": out, "numpy": numpy}))
      """

    @Test(.requires(.python("safetensors", "numpy")))
    func pythonReadsAndRewritesOurFilesIdentically() throws {
      let directory = try ScratchDirectory()
      let ours = directory.file("ours.safetensors")
      let theirs = directory.file("theirs.safetensors")
      let values = Write.sampleValues(24, seed: 5)
      let integers = Tensor(values.scalars.map { ($0 * 100).rounded() })
      let entries = [
        SafeTensorsEntry("f32", values.reshaped([2, 3, 4])),
        SafeTensorsEntry("f16", values.reshaped([4, 6]), as: .f16),
        SafeTensorsEntry("bf", values, as: .bf16),
        SafeTensorsEntry("i32", integers, as: .i32),
        SafeTensorsEntry("i64", int64: [-(1 << 62), 0, (1 << 53) + 1], shape: [3]),
        SafeTensorsEntry("u8", uint8: [0, 7, 255], shape: [3, 1]),
        SafeTensorsEntry("scalar \"q\" é\u{1}\u{8}\\", Tensor(2.5)),
        SafeTensorsEntry("empty", Tensor.zeros([0, 5])),
      ]
      // One metadata key: the reference writer orders several keys unpredictably.
      try SafeTensors.write(entries, metadata: ["loss": "5.5 \"ok\""], to: ours)

      let errorPath = directory.file("python-stderr.txt")
      let output = try #require(
        try Self.runPython(["-c", Self.pythonCheck, ours, theirs], errorPath: errorPath),
        "python failed: \((try? String(contentsOfFile: errorPath, encoding: .utf8)) ?? "")")
      let report = try #require(
        try JSONSerialization.jsonObject(with: output) as? [String: Any])
      #expect(report["metadata"] as? [String: String] == ["loss": "5.5 \"ok\""])
      let tensors = try #require(report["tensors"] as? [String: [String: Any]])
      let file = try SafeTensorsFile(path: ours)
      #expect(Set(tensors.keys) == Set(file.names))
      for info in file.tensorInfos {
        let python = try #require(tensors[info.name])
        #expect(python["dtype"] as? String == info.dtype.rawValue, "\(info.name)")
        #expect(python["shape"] as? [Int] == info.shape, "\(info.name)")
        if info.dtype.isInteger {
          let pythonValues = try #require(python["values"] as? [Int], "\(info.name)")
          #expect(pythonValues.map(Int64.init) == (try file.integers(named: info.name)))
        } else {
          let pythonValues = try #require(python["values"] as? [Double], "\(info.name)")
          #expect(pythonValues.map(Float.init) == (try file.tensor(named: info.name).scalars))
        }
      }
      // The reference writer lays the same tensors out byte for byte as we do.
      let withoutBF16 = directory.file("ours-without-bf16.safetensors")
      try SafeTensors.write(
        entries.filter { $0.name != "bf" }, metadata: ["loss": "5.5 \"ok\""], to: withoutBF16)
      let ourBytes = try Data(contentsOf: URL(fileURLWithPath: withoutBF16))
      let theirBytes = try Data(contentsOf: URL(fileURLWithPath: theirs))
      #expect(ourBytes == theirBytes)
      // And its numpy loader reads the exact integers.
      let numpy = try #require(report["numpy"] as? [String: Any])
      #expect(numpy["u8"] as? [[Int]] == [[0], [7], [255]])
      #expect(numpy["i64"] as? [Int] == [-(1 << 62), 0, (1 << 53) + 1])
    }
  }
}
