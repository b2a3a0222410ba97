import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import TestSupport
import Testing

/// Adapters on a GGUF file's blocks (QLoRA): the base stays quantized and out of the arena, its
/// blocks dequantized a panel at a time inside the products, and training sees the same model
/// as adapters on the dequantized `Float` weights.
@Suite("QLoRA on GGUF blocks")
struct QLoRATests {
  @Test func adaptersOnBlocksTrainAsOnTheDequantizedWeights() throws {
    let (directory, _) = try GGUFQuantizedTests.directory(tied: false, seed: 11)
    let file = try temporaryDirectory("qlora") + "/model.gguf"
    try ModelDirectory(path: directory).exportGGUF(
      to: file, options: GGUFExportOptions(type: .q8_0))
    let blocks = try Llama.forInference(directory: file)
    let floats = try Llama(directory: file)
    #expect(Set(blocks.linearWeights.map(\.formatName)) == ["q8_0"])
    #expect(floats.isTrainable && !blocks.isTrainable)
    // No Float copy of a projection in the arena.
    for weight in blocks.linearWeights {
      #expect(blocks.arena.parameter(named: weight.name) == nil, "\(weight.name)")
    }

    let configuration = LoRAConfiguration(
      rank: 4, alpha: 8, targets: ["q_proj", "v_proj", "down_proj"])
    let onBlocks = LoRAModel(base: blocks, configuration: configuration, seed: 5)
    let onFloats = LoRAModel(base: floats, configuration: configuration, seed: 5)
    LoRATests.randomize(onBlocks, seed: 40)
    LoRATests.randomize(onFloats, seed: 40)
    let ids: [Int32] = [1, 45, 200, 17, 3, 88, 150, 7]
    let lossOnBlocks = onBlocks.model.valueAndGradient { tape in
      onBlocks.model.languageModelLoss(ids, batch: 2, tape: tape)
    }
    let lossOnFloats = onFloats.model.valueAndGradient { tape in
      onFloats.model.languageModelLoss(ids, batch: 2, tape: tape)
    }
    // Tolerance: the same products, the weight met a panel of rows at a time versus at once.
    #expect(abs(lossOnBlocks - lossOnFloats) <= 1e-5 * abs(lossOnFloats))
    #expect(!blocks.arena.hasGradients && onBlocks.arena.hasGradients)
    for (ours, theirs) in zip(onBlocks.arena.parameters, onFloats.arena.parameters) {
      let scale = theirs.gradient.scalars.map(abs).max() ?? 0
      #expect(scale > 0, "\(theirs.name)")
      expectClose(
        ours.gradient.scalars, theirs.gradient.scalars, rtol: 1e-3, atol: 1e-4 * scale)
    }
    // The reference (adapters disabled) is the dequantized base; merging folds the adapters
    // into the dequantized weights.
    let logits = floats(ids, batch: 2).value.scalars
    let scale = logits.map(abs).max() ?? 1
    expectClose(onBlocks.base(ids, batch: 2).value.scalars, logits, rtol: 0, atol: 1e-5 * scale)
    let merged = onBlocks.merged()
    #expect(merged.isTrainable)
    expectClose(
      merged(ids, batch: 2).value.scalars, onFloats.model(ids, batch: 2).value.scalars, rtol: 0,
      atol: 1e-4 * scale)
  }

  /// `weights` `[rows, cols]` as q8_0 blocks.
  static func q8Blocks(_ weights: Tensor) throws -> GGMLMatrix {
    let (rows, cols) = (weights.shape[0], weights.shape[1])
    var bytes = [UInt8](repeating: 0, count: rows * cols / Q8_0.blockSize * Q8_0.blockByteCount)
    weights.contiguous().withUnsafeBufferPointer { values in
      bytes.withUnsafeMutableBytes { Q8_0.quantize(values, into: $0) }
    }
    return try GGMLMatrix(format: .q8_0, rows: rows, cols: cols, bytes: bytes)
  }

  @Test func aBlockProductsGradientIsTheDequantizedWeightsGradient() throws {
    let weights = LoRATests.values([96, 64], seed: 21)
    let matrix = try Self.q8Blocks(weights)
    let reference = matrix.dequantized()
    let x = LoRATests.values([3, 5, 64], seed: 22)
    let dy = LoRATests.values([3, 5, 96], seed: 23)
    let scale = Float(64).squareRoot()
    expectClose(
      matrix.floatLinear(x).scalars, matmul(x, reference, transposeB: true).scalars, rtol: 0,
      atol: 1e-5 * scale)
    expectClose(
      matrix.inputGradient(dy).scalars, matmul(dy, reference).scalars, rtol: 0,
      atol: 1e-5 * Float(96).squareRoot())
    // A matrix taller than one panel of rows.
    let tall = try Self.q8Blocks(LoRATests.values([300, 64], seed: 24))
    let tallDy = LoRATests.values([4, 300], seed: 25)
    expectClose(
      tall.inputGradient(tallDy).scalars, matmul(tallDy, tall.dequantized()).scalars, rtol: 0,
      atol: 1e-5 * Float(300).squareRoot())
    expectClose(
      tall.floatLinear(x).scalars, matmul(x, tall.dequantized(), transposeB: true).scalars,
      rtol: 0, atol: 1e-5 * scale)
  }
}
