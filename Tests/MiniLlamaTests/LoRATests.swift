import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import TestSupport
import Testing

@Suite("LoRA linear weights and adapted models")
struct LoRATests {
  static func values(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
    var rng = PhiloxRNG(seed: seed)
    let count = shape.reduce(1, *)
    return Tensor((0..<count).map { _ in scale * (2 * rng.nextUniform() - 1) }, shape: shape)
  }

  /// A dense or q8_0 base `[out, in]` (q8_0 needs `in` a multiple of 32).
  static func base(out: Int, in inFeatures: Int, quantized: Bool) -> LinearWeight {
    var builder = ParameterArena.Builder()
    let weight = builder.declare(
      "model.layers.0.self_attn.q_proj.weight", shape: [out, inFeatures])
    _ = builder.build(seed: 1)
    weight.assign(values([out, inFeatures], seed: 2))
    return quantized ? .q8_0(Q8Matrix(weight.value), name: weight.name) : .dense(weight)
  }

  @Test("central differences match the gradients of x, A and B", arguments: [false, true])
  func finiteDifferences(quantized: Bool) {
    let (out, inFeatures, rank) = quantized ? (5, 32, 3) : (5, 7, 3)
    let weight = Self.base(out: out, in: inFeatures, quantized: quantized)
    let inputs = [
      Self.values([2, 3, inFeatures], seed: 3), Self.values([rank, inFeatures], seed: 4),
      Self.values([out, rank], seed: 5),
    ]
    let report = GradientCheck.check(inputs: inputs, step: 1e-2) { _, variables in
      loraLinear(variables[0], base: weight, a: variables[1], b: variables[2], scale: 1.5)
    }
    #expect(report.passed, "\(report)")
  }

  @Test("a dropout mask scales the adapter's input only")
  func dropoutMask() {
    let weight = Self.base(out: 4, in: 6, quantized: false)
    let x = Self.values([3, 6], seed: 7)
    let a = Self.values([2, 6], seed: 8)
    let b = Self.values([4, 2], seed: 9)
    var rng = PhiloxRNG(seed: 10)
    let mask = Tensor((0..<18).map { _ in rng.nextUniform() < 0.5 ? 0 : 2 }, shape: [3, 6])
    let report = GradientCheck.check(inputs: [x, a, b], step: 1e-2) { _, v in
      loraLinear(v[0], base: weight, a: v[1], b: v[2], scale: 0.5, dropoutMask: mask)
    }
    #expect(report.passed, "\(report)")
    // base(x) + 0.5 · ((x ⊙ mask) Aᵀ) Bᵀ, from plain products.
    guard case .dense(let w) = weight else { return }
    let expected =
      matmul(x, w.value, transposeB: true)
      + matmul(matmul(x * mask, a, transposeB: true), b, transposeB: true) * 0.5
    let ours = loraLinear(
      Variable(x), base: weight, a: Variable(a), b: Variable(b), scale: 0.5, dropoutMask: mask)
    // Tolerance: float rounding of two orders of summation.
    expectClose(ours.value.scalars, expected.scalars, rtol: 1e-5, atol: 1e-5)
  }

  @Test("projections that share their input add their gradients into it, as q, k and v do")
  func sharedInput() {
    let dense = Self.base(out: 4, in: 32, quantized: false)
    let quantized = Self.base(out: 3, in: 32, quantized: true)
    var rng = PhiloxRNG(seed: 11)
    let mask = Tensor((0..<64).map { _ in rng.nextUniform() < 0.25 ? 0 : 4 / 3 }, shape: [2, 32])
    let inputs = [
      Self.values([2, 32], seed: 12), Self.values([2, 32], seed: 13),
      Self.values([4, 2], seed: 14), Self.values([2, 32], seed: 15),
      Self.values([3, 2], seed: 16),
    ]
    let report = GradientCheck.check(inputs: inputs, step: 1e-2) { _, v in
      let first = loraLinear(v[0], base: dense, a: v[1], b: v[2], scale: 2, dropoutMask: mask)
      let second = loraLinear(v[0], base: quantized, a: v[3], b: v[4], scale: 0.5)
      return first.sum() + (second * Variable(Self.values([2, 3], seed: 17))).sum()
    }
    #expect(report.passed, "\(report)")
  }

  static func tinyModel(seed: UInt64 = 3) -> Llama {
    let config = LlamaConfig(
      vocabSize: 50, hiddenSize: 32, intermediateSize: 48, layerCount: 2, headCount: 4,
      kvHeadCount: 2, maxPositions: 32, ropeTheta: 10_000, initializerRange: 0.2)
    return Llama(config: config, seed: seed)
  }

  /// Gives every adapter weight random values (B starts at zero).
  static func randomize(_ lora: LoRAModel, seed: UInt64) {
    for (i, parameter) in lora.arena.parameters.enumerated() {
      parameter.assign(values(parameter.shape, seed: seed + UInt64(i), scale: 0.2))
    }
  }

  @Test("adapters start at zero, train alone, and merge into the base")
  func adaptedModel() throws {
    let base = Self.tinyModel()
    let ids: [Int32] = [1, 4, 9, 16, 25, 36, 49, 3]
    let before = base(ids, batch: 2).value.scalars
    let lora = LoRAModel(
      base: base,
      configuration: LoRAConfiguration(
        rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"]),
      seed: 5)
    #expect(lora.adapters.count == 6)
    #expect(
      lora.arena.parameters.first?.name
        == "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight")
    #expect(lora.arena.parameters.map(\.shape).prefix(2) == [[4, 32], [32, 4]])
    // A is Kaiming-uniform (a = √5): within ±1/√in; B is zero, so nothing changes yet.
    let bound = 1 / Float(32).squareRoot()
    #expect(lora.adapters[0].a.value.scalars.allSatisfy { abs($0) <= bound })
    #expect(lora.adapters[0].b.value.scalars.allSatisfy { $0 == 0 })
    #expect(lora.model(ids, batch: 2).value.scalars == before)

    Self.randomize(lora, seed: 40)
    let loss = lora.model.valueAndGradient { tape in
      lora.model.languageModelLoss(ids, batch: 2, tape: tape)
    }
    #expect(loss.isFinite)
    // The base is frozen: it never got a gradient buffer; every adapter got a gradient.
    #expect(!base.arena.hasGradients)
    #expect(lora.arena.hasGradients)
    for parameter in lora.arena.parameters {
      #expect(parameter.gradient.scalars.contains { $0 != 0 }, "\(parameter.name)")
    }
    // The reference (adapters disabled) is the base itself.
    #expect(lora.base(ids, batch: 2).value.scalars == before)
    let merged = lora.merged()
    // Tolerance: W + s·BA rounded once versus two products added.
    expectClose(
      merged(ids, batch: 2).value.scalars, lora.model(ids, batch: 2).value.scalars, rtol: 0,
      atol: 1e-4)
  }

  @Test("adapters on biased attention (Qwen2) add to x·Wᵀ + b; the biases stay frozen")
  func biasedAttention() throws {
    var config = LlamaConfig(
      vocabSize: 50, hiddenSize: 32, intermediateSize: 48, layerCount: 2, headCount: 4,
      kvHeadCount: 2, maxPositions: 32, ropeTheta: 10_000, initializerRange: 0.2)
    config.architecture = .qwen2
    let base = Llama(config: config, seed: 3)
    let biases = base.arena.parameters.filter { $0.name.hasSuffix(".bias") }
    #expect(biases.count == 6)
    for (i, bias) in biases.enumerated() {
      bias.assign(Self.values(bias.shape, seed: 60 + UInt64(i), scale: 0.5))
    }
    let biasValues = biases.map(\.value.scalars)
    let ids: [Int32] = [1, 4, 9, 16, 25, 36, 49, 3]
    let before = base(ids, batch: 2).value.scalars
    let lora = LoRAModel(base: base, configuration: LoRAConfiguration(rank: 4), seed: 5)
    #expect(lora.adapters.count == 14)
    // B is zero: the adapted model is the biased base.
    #expect(lora.model(ids, batch: 2).value.scalars == before)

    Self.randomize(lora, seed: 70)
    let adapted = lora.model(ids, batch: 2).value.scalars
    #expect(adapted != before)
    _ = lora.model.valueAndGradient { lora.model.languageModelLoss(ids, batch: 2, tape: $0) }
    // The biases are the base's: frozen, with no gradient buffer.
    #expect(!base.arena.hasGradients)
    #expect(lora.arena.parameters.allSatisfy { $0.gradient.scalars.contains { $0 != 0 } })
    #expect(biases.map(\.value.scalars) == biasValues)
    // Merged: each biased projection is x·(W + s·BA)ᵀ + b, the same model.
    let merged = lora.merged()
    for bias in biases {
      #expect(merged.arena.parameter(named: bias.name)?.value.scalars == bias.value.scalars)
    }
    // Tolerance: W + s·BA rounded once versus two products added.
    expectClose(merged(ids, batch: 2).value.scalars, adapted, rtol: 0, atol: 1e-4)
  }

  @Test("rsLoRA scales by alpha/√r")
  func scales() {
    #expect(LoRAConfiguration(rank: 16, alpha: 32).scale == 2)
    #expect(LoRAConfiguration(rank: 16, alpha: 32, useRSLoRA: true).scale == 8)
    #expect(LoRAConfiguration(rank: 4).alpha == 8)
  }

  @Test("a q8_0 base trains its adapters through the dequantized product")
  func quantizedBase() {
    let config = LlamaConfig(
      vocabSize: 40, hiddenSize: 64, intermediateSize: 96, layerCount: 1, headCount: 4,
      kvHeadCount: 2, maxPositions: 16, ropeTheta: 10_000, initializerRange: 0.2)
    let dense = Llama(config: config, seed: 8)
    let quantized = dense.mappingLinearWeights { weight in
      weight.name == "lm_head.weight" ? weight : weight.quantizedQ8()
    }
    let lora = LoRAModel(base: quantized, configuration: LoRAConfiguration(rank: 2), seed: 1)
    #expect(lora.model.isQuantized && lora.model.isTrainable)
    Self.randomize(lora, seed: 3)
    let ids: [Int32] = [1, 2, 3, 4, 5, 6]
    _ = lora.model.valueAndGradient { lora.model.languageModelLoss(ids, tape: $0) }
    #expect(!dense.arena.hasGradients)
    #expect(lora.arena.parameters.allSatisfy { $0.gradient.scalars.contains { $0 != 0 } })
  }

  @Test("adapter folders round-trip; bad configurations name the file and key")
  func adapterFiles() throws {
    let folder = FileManager.default.temporaryDirectory
      .appendingPathComponent("minillm-lora-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let base = Self.tinyModel()
    let lora = LoRAModel(
      base: base, configuration: LoRAConfiguration(rank: 3, alpha: 5, dropout: 0.1), seed: 2)
    Self.randomize(lora, seed: 11)
    lora.baseModelPath = "/models/tiny"
    try lora.saveAdapter(to: folder)
    let loaded = try LoRAModel(base: Self.tinyModel(), adapterDirectory: folder)
    #expect(loaded.configuration == lora.configuration)
    #expect(loaded.model([1, 2, 3]).value.scalars == lora.model([1, 2, 3]).value.scalars)

    let configPath = folder + "/adapter_config.json"
    let original = try String(contentsOfFile: configPath, encoding: .utf8)
    for (from, to, key) in [
      ("\"r\" : 3", "\"r\" : -3", "r"),
      ("\"bias\" : \"none\"", "\"bias\" : \"all\"", "bias"),
      ("\"use_dora\" : false", "\"use_dora\" : true", "use_dora"),
      ("\"lora_alpha\" : 5", "\"lora_alpha\" : \"5\"", "lora_alpha"),
    ] {
      #expect(original.contains(from), "\(from)")
      try original.replacingOccurrences(of: from, with: to).write(
        toFile: configPath, atomically: true, encoding: .utf8)
      #expect {
        _ = try LoRAModel(base: Self.tinyModel(), adapterDirectory: folder)
      } throws: { error in
        let text = "\(error)"
        return text.contains(configPath) && text.contains(key)
      }
    }
    try original.replacingOccurrences(of: "\"r\" : 3", with: "\"r\" : 2").write(
      toFile: configPath, atomically: true, encoding: .utf8)
    #expect {
      _ = try LoRAModel(base: Self.tinyModel(), adapterDirectory: folder)
    } throws: { error in
      "\(error)".contains("lora_A.weight") && "\(error)".contains("adapter_model.safetensors")
    }
  }
}
