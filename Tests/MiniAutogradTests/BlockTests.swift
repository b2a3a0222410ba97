import MiniAutograd
import MiniTensor
import TestSupport
import Testing

/// A two-layer Llama-style decoder on an arena, written once over a table of layer functions so
/// that the fused and unfused layers run the same model.
struct TinyDecoder: Module {
  struct Layers: Sendable {
    let rmsNorm: @Sendable (Variable, Variable, Float) -> Variable
    let rope: @Sendable (Variable, RopeTable) -> Variable
    let attention: @Sendable (Variable, Variable, Variable) -> Variable
    let swiglu: @Sendable (Variable, Variable) -> Variable
    let crossEntropy: @Sendable (Variable, [Int32]) -> Variable
  }

  static let fused = Layers(
    rmsNorm: { rmsNorm($0, weight: $1, eps: $2) },
    rope: { rope($0, table: $1) },
    attention: { causalAttention(q: $0, k: $1, v: $2) },
    swiglu: { swiglu(gate: $0, up: $1) },
    crossEntropy: { crossEntropy(logits: $0, targets: $1) })

  static let unfused = Layers(
    rmsNorm: { Unfused.rmsNorm($0, weight: $1, eps: $2) },
    rope: { x, table in
      let (cos, sin) = ropeTensors(table, positions: 0..<x.shape[1])
      return Unfused.rope(x, cos: cos, sin: sin)
    },
    attention: { Unfused.causalAttention(q: $0, k: $1, v: $2) },
    swiglu: { Unfused.swiglu(gate: $0, up: $1) },
    crossEntropy: { Unfused.crossEntropy(logits: $0, targets: $1) })

  let vocab = 11
  let dim = 8
  let heads = 4
  let kvHeads = 2
  let hidden = 12
  var headDim: Int { dim / heads }
  let embed: Parameter
  let blocks: [[Parameter]]
  let norm: Parameter
  let arena: ParameterArena
  let table: RopeTable

  init(layers: Int, seed: UInt64) {
    var builder = ParameterArena.Builder()
    let normal = ParameterInitializer.normal(standardDeviation: 0.3)
    embed = builder.declare("model.embed_tokens.weight", shape: [vocab, dim], initializer: normal)
    var blocks: [[Parameter]] = []
    for i in 0..<layers {
      let p = "model.layers.\(i)."
      let kv = kvHeads * (dim / heads)
      blocks.append([
        builder.declare(
          p + "input_layernorm.weight", shape: [dim], initializer: .uniform(0.5..<1.5)),
        builder.declare(p + "self_attn.q_proj.weight", shape: [dim, dim], initializer: normal),
        builder.declare(p + "self_attn.k_proj.weight", shape: [kv, dim], initializer: normal),
        builder.declare(p + "self_attn.v_proj.weight", shape: [kv, dim], initializer: normal),
        builder.declare(p + "self_attn.o_proj.weight", shape: [dim, dim], initializer: normal),
        builder.declare(
          p + "post_attention_layernorm.weight", shape: [dim], initializer: .uniform(0.5..<1.5)),
        builder.declare(p + "mlp.gate_proj.weight", shape: [hidden, dim], initializer: normal),
        builder.declare(p + "mlp.up_proj.weight", shape: [hidden, dim], initializer: normal),
        builder.declare(p + "mlp.down_proj.weight", shape: [dim, hidden], initializer: normal),
      ])
    }
    self.blocks = blocks
    norm = builder.declare("model.norm.weight", shape: [dim], initializer: .ones)
    arena = builder.build(seed: seed)
    table = RopeTable(headDim: dim / heads, maxPositions: 16, theta: 10_000)
  }

  func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    try visitor(embed)
    for block in blocks { for parameter in block { try visitor(parameter) } }
    try visitor(norm)
  }

  /// Mean next-token loss of `tokens` (`[batch, sequence]`), tied output head.
  func loss(_ tokens: [[Int32]], tape: Tape?, layers f: Layers) -> Variable {
    let (batch, sequence) = (tokens.count, tokens[0].count)
    let embedding = embed.variable(on: tape)
    var x = MiniAutograd.embedding(
      embedding, ids: tokens.flatMap { $0 }, shape: [batch, sequence])
    for block in blocks {
      let w = block.map { $0.variable(on: tape) }
      let h = f.rmsNorm(x, w[0], 1e-5)
      let q = f.rope(linear(h, w[1]).reshaped([batch, sequence, heads, headDim]), table)
      let k = f.rope(linear(h, w[2]).reshaped([batch, sequence, kvHeads, headDim]), table)
      let v = linear(h, w[3]).reshaped([batch, sequence, kvHeads, headDim])
      let attended = f.attention(q, k, v).reshaped([batch, sequence, dim])
      x = x + linear(attended, w[4])
      let h2 = f.rmsNorm(x, w[5], 1e-5)
      x = x + linear(f.swiglu(linear(h2, w[6]), linear(h2, w[7])), w[8])
    }
    let logits = linear(f.rmsNorm(x, norm.variable(on: tape), 1e-5), embedding)
    let targets = tokens.flatMap { row in row.dropFirst() + [-100] }
    return f.crossEntropy(logits, targets)
  }
}

@Suite("decoder built from the layers")
struct DecoderTests {
  static let tokens: [[Int32]] = [[1, 5, 3, 9, 2], [4, 4, 10, 0, 7]]

  @Test func fusedAndUnfusedDecodersAgreeOnLossAndEveryGradient() {
    let model = TinyDecoder(layers: 2, seed: 5)
    let unfusedLoss = model.valueAndGradient { tape in
      model.loss(Self.tokens, tape: tape, layers: TinyDecoder.unfused)
    }
    let unfusedGradients = model.parameters.map { $0.gradient.contiguousCopy() }
    model.zeroGradients()
    let fusedLoss = model.valueAndGradient { tape in
      model.loss(Self.tokens, tape: tape, layers: TinyDecoder.fused)
    }
    expectClose([fusedLoss], [unfusedLoss], rtol: 1e-5, atol: 1e-6)
    for (parameter, expected) in zip(model.parameters, unfusedGradients) {
      // The same sums in other orders (other GEMM shapes, other kernels): within 1e-5 of the
      // tensor's largest gradient, whatever the BLAS kernel.
      expectCloseScaled(
        parameter.gradient, expected, rtol: 1e-5, atol: 1e-7, "\(parameter.name)")
      #expect(parameter.gradient.scalars.contains { $0 != 0 }, "\(parameter.name)")
    }
    // The inference path (no tape) computes the same loss.
    let inference = model.loss(Self.tokens, tape: nil, layers: TinyDecoder.fused)
    #expect(!inference.isTracked)
    #expect(inference.value.item == fusedLoss)
  }

  @Test func decoderGradientsMatchFiniteDifferences() {
    let model = TinyDecoder(layers: 1, seed: 6)
    let parameters = model.parameters
    _ = model.valueAndGradient { tape in
      model.loss(Self.tokens, tape: tape, layers: TinyDecoder.fused)
    }
    // Differentiate the loss with respect to a copy of each parameter in turn.
    for (index, parameter) in parameters.enumerated() {
      let original = parameter.value.contiguousCopy()
      var worst: Float = 0
      for element in stride(from: 0, to: parameter.count, by: max(1, parameter.count / 12)) {
        var plus = original
        plus.withUnsafeMutableBufferPointer { $0[element] += 1e-2 }
        parameter.assign(plus)
        let up = model.loss(Self.tokens, tape: nil, layers: TinyDecoder.fused).value.item
        var minus = original
        minus.withUnsafeMutableBufferPointer { $0[element] -= 1e-2 }
        parameter.assign(minus)
        let down = model.loss(Self.tokens, tape: nil, layers: TinyDecoder.fused).value.item
        parameter.assign(original)
        let numeric = (up - down) / 2e-2
        let analytic = parameter.gradient.scalars[element]
        worst = max(worst, abs(numeric - analytic) - 2e-2 * abs(analytic))
      }
      #expect(worst <= 2e-3, "parameter \(index) \(parameter.name): excess error \(worst)")
    }
  }

  @Test func trainingStepKeepsFewGradientBuffersAlive() {
    let model = TinyDecoder(layers: 3, seed: 7)
    let tape = Tape()
    let loss = model.loss(Self.tokens, tape: tape, layers: TinyDecoder.fused)
    let nodes = tape.variableCount
    tape.backward(from: loss)
    #expect(tape.liveGradientBufferCount == 0)
    #expect(tape.peakGradientBufferCount <= 6, "peak \(tape.peakGradientBufferCount) of \(nodes)")
  }
}
