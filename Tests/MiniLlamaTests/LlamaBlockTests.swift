import MiniAutograd
import MiniLlama
import MiniTensor
import TestSupport
import Testing

@Suite("Llama blocks and linear weights")
struct LlamaBlockTests {
  /// A seeded GQA model whose widths are whole q8_0 blocks, with no RoPE scaling.
  static func model(seed: UInt64 = 11) -> Llama {
    let config = LlamaConfig(
      vocabSize: 80, hiddenSize: 64, intermediateSize: 96, layerCount: 2, headCount: 4,
      kvHeadCount: 2, maxPositions: 32, rmsNormEps: 1e-5, ropeTheta: 10_000,
      initializerRange: 0.2)
    return Llama(config: config, seed: seed)
  }

  /// Deterministic values in `-1..<1`.
  static func values(_ count: Int, seed: UInt64) -> [Float] {
    var rng = PhiloxRNG(seed: seed)
    return (0..<count).map { _ in Float(rng.nextUInt32() % 20_001) / 10_000 - 1 }
  }

  /// The block written out from the unfused reference ops, as `transformers` writes
  /// `LlamaDecoderLayer.forward`.
  static func referenceBlock(
    _ block: LlamaBlock, _ x: Variable, config: LlamaConfig, tape: Tape?
  ) -> Variable {
    func dense(_ weight: LinearWeight) -> Variable {
      guard case .dense(let parameter) = weight else {
        preconditionFailure("reference block: \(weight.name) is not dense")
      }
      return parameter.variable(on: tape)
    }
    func project(_ x: Variable, _ weight: LinearWeight) -> Variable {
      matmul(x, dense(weight), transposeB: true)
    }
    let (batch, sequence) = (x.shape[0], x.shape[1])
    let (heads, kvHeads, headDim) = (config.headCount, config.kvHeadCount, config.headDim)
    let (cos, sin) = Unfused.ropeTables(
      headDim: headDim, positions: 0..<sequence, theta: Float(config.ropeTheta))
    let eps = config.rmsNormEps
    let attention = block.attention
    let normed = Unfused.rmsNorm(x, weight: block.inputNorm.weight.variable(on: tape), eps: eps)
    let q = Unfused.rope(
      project(normed, attention.qProj).reshaped([batch, sequence, heads, headDim]), cos: cos,
      sin: sin)
    let k = Unfused.rope(
      project(normed, attention.kProj).reshaped([batch, sequence, kvHeads, headDim]), cos: cos,
      sin: sin)
    let v = project(normed, attention.vProj).reshaped([batch, sequence, kvHeads, headDim])
    let mixed = Unfused.causalAttention(q: q, k: k, v: v)
      .reshaped([batch, sequence, heads * headDim])
    let h = x + project(mixed, attention.oProj)
    let normed2 = Unfused.rmsNorm(
      h, weight: block.postAttentionNorm.weight.variable(on: tape), eps: eps)
    let gated = Unfused.swiglu(
      gate: project(normed2, block.mlp.gateProj), up: project(normed2, block.mlp.upProj))
    return h + project(gated, block.mlp.downProj)
  }

  @Test func blockEqualsTheReferenceLayerForwardAndBackward() {
    let model = Self.model()
    let (batch, sequence, hidden) = (2, 7, model.config.hiddenSize)
    let x = Tensor(
      Self.values(batch * sequence * hidden, seed: 1), shape: [batch, sequence, hidden])
    let probe = Variable(Tensor(Self.values(x.count, seed: 2), shape: x.shape))
    let block = model.blocks[1]
    // Forward and the weights' gradients of Σ probe · block(x), fused and reference.
    func run(_ forward: (Variable, Tape) -> Variable) -> (output: [Float], gradients: [[Float]]) {
      model.arena.zeroGradients()
      let tape = Tape()
      let output = forward(Variable(x), tape)
      tape.backward(from: (output * probe).sum())
      let weights =
        block.linearWeights.map(\.name) + [
          block.inputNorm.weight.name, block.postAttentionNorm.weight.name,
        ]
      return (
        output.value.scalars,
        weights.map { model.arena.parameter(named: $0)!.gradient.scalars }
      )
    }
    let fused = run { x, tape in block(x, tape: tape) }
    let reference = run { x, tape in
      Self.referenceBlock(block, x, config: model.config, tape: tape)
    }
    // Tolerance: 1e-5 absolute on the outputs (|x| < 1), 1e-4 on the gradients (fused kernels
    // against composed primitive ops, Float rounding only).
    expectClose(fused.output, reference.output, rtol: 0, atol: 1e-5, "block output")
    for (index, (a, b)) in zip(fused.gradients, reference.gradients).enumerated() {
      expectClose(a, b, rtol: 0, atol: 1e-4, "gradient \(index)")
    }
  }

  @Test func blocksWithCacheEqualBlocksOverTheWholeSequence() {
    let model = Self.model()
    let (sequence, hidden) = (9, model.config.hiddenSize)
    let x = Tensor(Self.values(sequence * hidden, seed: 3), shape: [1, sequence, hidden])
    let block = model.blocks[0]
    let full = block(Variable(x)).value.reshaped([sequence, hidden])
    // Prefill 5 positions, then one at a time through the cache.
    let cache = KVCache(config: model.config)
    var rows = block(Variable(x.sliced(0..<5, axis: 1)), cache: cache).value
      .reshaped([5, hidden]).scalars
    for t in 5..<sequence {
      let step = Variable(x.sliced(t..<(t + 1), axis: 1))
      rows += block(step, startPosition: t, cache: cache).value.scalars
    }
    // Tolerance: 1e-5 absolute (decode kernels against the training kernels, same math).
    expectClose(rows, full.scalars, rtol: 0, atol: 1e-5)
  }

  @Test func quantizedModelKeepsItsArenaAndChoosesEachWeight() throws {
    let model = Self.model()
    let q8 = model.quantized()
    #expect(q8.arena === model.arena)
    #expect(model.linearWeights.allSatisfy { $0.formatName == "f32" })
    // 64- and 96-wide inputs are whole blocks: every projection and the head become q8_0.
    #expect(q8.linearWeights.allSatisfy { $0.formatName == "q8_0" })
    #expect(q8.linearWeights.map(\.name) == model.linearWeights.map(\.name))
    #expect(q8.linearWeights.map(\.shape) == model.linearWeights.map(\.shape))
    #expect(model.linearWeights.last?.name == "lm_head.weight")
    // A weight whose input is not whole blocks stays Float.
    var config = model.config
    config.intermediateSize = 40
    let mixed = Llama(config: config, seed: 1).quantized()
    let formats = Dictionary(
      uniqueKeysWithValues: mixed.linearWeights.map { ($0.name, $0.formatName) })
    #expect(formats["model.layers.0.mlp.down_proj.weight"] == "f32")
    #expect(formats["model.layers.0.mlp.up_proj.weight"] == "q8_0")
    // A tied head is the embedding, quantized for the head only.
    config.tieWordEmbeddings = true
    let tied = Llama(config: config, seed: 1)
    #expect(tied.linearWeights.last?.name == "model.embed_tokens.weight")
    #expect(tied.quantized().linearWeights.last?.formatName == "q8_0")
  }

  @Test func q8BlockIsTheFloatBlockOnRoundedWeights() {
    let model = Self.model()
    let q8 = model.quantized()
    // The Float model with every projection set to the values its q8_0 copy holds.
    let rounded = Self.model()
    for weight in q8.linearWeights {
      guard case .q8_0(let matrix, let name) = weight else {
        Issue.record("\(weight.name) is \(weight.formatName)")
        continue
      }
      rounded.arena.parameter(named: name)!.assign(matrix.dequantized())
    }
    let (batch, sequence, hidden) = (2, 6, model.config.hiddenSize)
    let x = Variable(
      Tensor(Self.values(batch * sequence * hidden, seed: 4), shape: [batch, sequence, hidden]))
    for (index, (exact, quantized)) in zip(rounded.blocks, q8.blocks).enumerated() {
      // Tolerance: 1e-5 absolute: several rows multiply by the dequantized weights, so the two
      // blocks differ only by Float rounding.
      expectClose(
        quantized(x).value.scalars, exact(x).value.scalars, rtol: 0, atol: 1e-5,
        "block \(index)")
    }
  }

  @Test(arguments: [1, 6])
  func q8BlockStaysCloseToTheFloatBlock(sequence: Int) {
    let model = Self.model()
    let q8 = model.quantized()
    let hidden = model.config.hiddenSize
    let x = Variable(Tensor(Self.values(sequence * hidden, seed: 5), shape: [1, sequence, hidden]))
    for (index, (exact, quantized)) in zip(model.blocks, q8.blocks).enumerated() {
      // What each block adds to the residual stream, with Float and with q8_0 weights.
      let reference = (exact(x) - x).value.scalars
      let approximate = (quantized(x) - x).value.scalars
      let norm = { (v: [Float]) in v.reduce(0) { $0 + $1 * $1 }.squareRoot() }
      let error = norm(zip(approximate, reference).map { $0 - $1 }) / norm(reference)
      // Tolerance: 8-bit weights (each within 1/254 of its block's largest magnitude; one input
      // row is rounded to 8 bits as well) through two chained products per branch and the
      // attention's softmax change what the block adds by at most 5 % (relative L2 norm).
      #expect(error < 0.05, "block \(index): relative error \(error)")
    }
  }

  /// The most a q8_0 product `x · Wᵀ` can differ from the exact one, per output: weights rounded
  /// to half a step `d_w = max|w_block| / 127`, and, for one input row (`inputRounded`), the input
  /// rounded to half a step `d_x` too: `Σ |w|·d_x/2 + |x|·d_w/2 + 3·d_w·d_x/4` over each block.
  static func q8Bound(weight: Tensor, input: [Float], inputRounded: Bool) -> [Float] {
    let (rows, cols) = (weight.shape[0], weight.shape[1])
    let w = weight.scalars
    func step(_ values: ArraySlice<Float>) -> Float { values.map(abs).max()! / 127 }
    return (0..<rows).map { r in
      var bound: Float = 0
      for start in stride(from: 0, to: cols, by: 32) {
        let wBlock = w[(r * cols + start)..<(r * cols + start + 32)]
        let xBlock = input[start..<(start + 32)]
        let dw = step(wBlock)
        let dx = inputRounded ? step(xBlock) : 0
        for (wi, xi) in zip(wBlock, xBlock) {
          bound += abs(wi) * dx / 2 + abs(xi) * dw / 2 + 0.75 * dw * dx
        }
      }
      return bound
    }
  }

  @Test(arguments: [1, 5])
  func q8ProductStaysWithinTheRoundingBound(rows: Int) throws {
    let model = Self.model()
    let exact = model.blocks[0].mlp.downProj
    guard case .dense(let parameter) = exact else {
      Issue.record("\(exact.name) is \(exact.formatName)")
      return
    }
    let quantized = exact.quantizedQ8()
    #expect(quantized.isQuantized && quantized.byteCount * 3 < exact.byteCount)
    let cols = parameter.shape[1]
    let x = Tensor(Self.values(rows * cols, seed: 6), shape: [rows, cols])
    let reference = exact(Variable(x), tape: nil).value
    let approximate = quantized(Variable(x), tape: nil).value
    for row in 0..<rows {
      let input = x[row: row].scalars
      let bound = Self.q8Bound(weight: parameter.value, input: input, inputRounded: rows == 1)
      let (a, b) = (approximate[row: row].scalars, reference[row: row].scalars)
      for j in bound.indices {
        // Tolerance: the rounding bound plus 1e-5 for Float summation.
        #expect(abs(a[j] - b[j]) <= bound[j] + 1e-5, "row \(row), output \(j)")
      }
    }
  }

  @Test func trainingAQuantizedModelIsAClearError() throws {
    let model = Self.model()
    #expect(model.isTrainable && !model.isQuantized)
    try model.checkTrainable()
    let q8 = model.quantized()
    #expect(!q8.isTrainable && q8.isQuantized)
    let error = #expect(throws: UntrainableWeightError.self) { try q8.checkTrainable() }
    #expect(error?.weight == "model.layers.0.self_attn.q_proj.weight")
    #expect(error?.format == "q8_0")
    #expect(error?.description.contains("model.layers.0.self_attn.q_proj.weight") == true)
  }

  @Test func aTapeThroughAQuantizedWeightStops() async {
    await #expect(processExitsWith: .failure) {
      let q8 = LlamaBlockTests.model().quantized()
      _ = q8.languageModelLoss([1, 2, 3, 4], tape: Tape())
    }
  }
}
