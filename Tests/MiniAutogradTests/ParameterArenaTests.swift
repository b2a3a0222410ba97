import MiniAutograd
import MiniTensor
import TestSupport
import Testing

/// A two-layer MLP written the way models use the API.
struct TinyMLP: Module {
  let up: Parameter
  let upBias: Parameter
  let down: Parameter
  let norm: Parameter
  let arena: ParameterArena

  init(width: Int, hidden: Int, seed: UInt64) {
    var builder = ParameterArena.Builder()
    up = builder.declare(
      "mlp.up_proj.weight", shape: [hidden, width], initializer: .normal(standardDeviation: 0.5))
    upBias = builder.declare("mlp.up_proj.bias", shape: [hidden], initializer: .constant(0.1))
    down = builder.declare(
      "mlp.down_proj.weight", shape: [width, hidden], initializer: .uniform(-0.5..<0.5))
    norm = builder.declare("norm.weight", shape: [width], initializer: .ones)
    arena = builder.build(seed: seed)
  }

  func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    try visitor(up)
    try visitor(upBias)
    try visitor(down)
    try visitor(norm)
  }

  func callAsFunction(_ x: Variable, tape: Tape?) -> Variable {
    let h = linear(x, up.variable(on: tape), bias: upBias.variable(on: tape)).silu()
    return Unfused.rmsNorm(
      linear(h, down.variable(on: tape)), weight: norm.variable(on: tape), eps: 1e-5)
  }
}

@Suite("parameter arena")
struct ParameterArenaTests {
  @Test func namesAreStableUniqueAndLaidOutBackToBack() {
    let model = TinyMLP(width: 3, hidden: 5, seed: 1)
    let names = model.parameters.map(\.name)
    #expect(
      names == ["mlp.up_proj.weight", "mlp.up_proj.bias", "mlp.down_proj.weight", "norm.weight"])
    #expect(Set(names).count == names.count)
    #expect(TinyMLP(width: 3, hidden: 5, seed: 2).parameters.map(\.name) == names)
    #expect(model.arena.parameters.map(\.name) == names)
    var offset = 0
    for parameter in model.arena.parameters {
      #expect(parameter.offset == offset)
      offset += parameter.count
    }
    #expect(model.arena.count == offset)
    #expect(model.parameterCount == offset)
    #expect(model.arena.parameter(named: "norm.weight") === model.norm)
    #expect(model.parameters.map(\.weightDecay) == [true, false, true, false])
  }

  @Test func initializersAreAppliedAndSeeded() {
    let a = TinyMLP(width: 4, hidden: 6, seed: 7)
    let b = TinyMLP(width: 4, hidden: 6, seed: 7)
    let c = TinyMLP(width: 4, hidden: 6, seed: 8)
    #expect(a.arena.values == b.arena.values)
    #expect(a.up.value != c.up.value)
    #expect(a.norm.value.scalars == [1, 1, 1, 1])
    #expect(a.upBias.value.scalars.allSatisfy { $0 == 0.1 })
    #expect(a.down.value.scalars.allSatisfy { $0 >= -0.5 && $0 < 0.5 })
    #expect(a.up.value.scalars.contains { $0 != 0 })
  }

  @Test func parameterTensorsAliasTheArena() {
    let model = TinyMLP(width: 3, hidden: 2, seed: 3)
    let value = model.down.value  // taken before the write
    let gradient = model.down.gradient
    #expect(value.sharesStorage(with: model.arena.values))
    model.arena.withUnsafeMutableBuffers { buffers in
      for i in model.down.offset..<(model.down.offset + model.down.count) {
        buffers.values[i] = Float(i)
        buffers.gradients[i] = -Float(i)
      }
    }
    let expected = (0..<model.down.count).map { Float(model.down.offset + $0) }
    #expect(value.scalars == expected)
    #expect(gradient.scalars == expected.map { -$0 })
    // Value semantics on the tensor side: mutating a copy leaves the arena alone.
    var copy = model.down.value
    copy[0, 0] = 1000
    #expect(model.down.value[0, 0] == expected[0])
    model.down.assign(Tensor(repeating: 2, shape: [3, 2]))
    #expect(value.scalars == [Float](repeating: 2, count: 6))
  }

  @Test func zeroGradientsZeroesEverything() {
    let model = TinyMLP(width: 3, hidden: 4, seed: 4)
    let x = randomTensor([2, 3], seed: 5)
    _ = model.valueAndGradient { tape in model(Variable(x), tape: tape).squared().sum() }
    #expect(model.arena.gradients.scalars.contains { $0 != 0 })
    model.arena.zeroGradients()
    #expect(model.arena.gradients.scalars.allSatisfy { $0 == 0 })
    _ = model.valueAndGradient { tape in model(Variable(x), tape: tape).squared().sum() }
    model.zeroGradients()
    #expect(model.arena.gradients.scalars.allSatisfy { $0 == 0 })
  }

  @Test func valueAndGradientMatchesFiniteDifferencesOfTheModel() {
    let model = TinyMLP(width: 3, hidden: 5, seed: 6)
    let x = randomTensor([4, 3], seed: 7)
    let loss = model.valueAndGradient { tape in model(Variable(x), tape: tape).tanh().sum() }
    let direct = model(Variable(x), tape: nil).tanh().sum().value.item
    #expect(loss == direct)
    // Compare the arena gradients with a gradient check over the same parameter values.
    let values = model.parameters.map(\.value)
    let report = GradientCheck.check(inputs: values) { _, v in
      let h = linear(Variable(x), v[0], bias: v[1]).silu()
      return Unfused.rmsNorm(linear(h, v[2]), weight: v[3], eps: 1e-5).tanh().sum()
    }
    #expect(report.passed, "\(report)")
    let tape = Tape()
    let leaves = values.map { tape.variable($0) }
    let h = linear(Variable(x), leaves[0], bias: leaves[1]).silu()
    tape.backward(
      from: Unfused.rmsNorm(linear(h, leaves[2]), weight: leaves[3], eps: 1e-5).tanh().sum())
    for (parameter, leaf) in zip(model.parameters, leaves) {
      expectClose(parameter.gradient, tape.gradient(of: leaf)!, rtol: 1e-5, atol: 1e-6)
    }
  }

  @Test func tiedParameterUsesAccumulate() {
    var builder = ParameterArena.Builder()
    let table = builder.declare("embed", shape: [4, 3], initializer: .normal(standardDeviation: 1))
    _ = builder.build(seed: 9)
    let tape = Tape()
    let h = embedding(table.variable(on: tape), ids: [1, 3])
    let logits = linear(h, table.variable(on: tape))
    tape.backward(from: logits.sum())
    // d/dE of Σ (E[ids] · Eᵀ): rows 1 and 3 get Σⱼ E[j]; every row j gets E[1] + E[3].
    let e = table.value
    let columnSum = e.sum(axis: 0)
    let picked = e[row: 1] + e[row: 3]
    var expected = Tensor.zeros([4, 3])
    for j in 0..<4 {
      for c in 0..<3 {
        expected[j, c] = picked[c] + ((j == 1 || j == 3) ? columnSum[c] : 0)
      }
    }
    expectClose(table.gradient, expected, rtol: 1e-5, atol: 1e-5)
  }

  @Test func frozenParametersGetNoGradient() {
    let model = TinyMLP(width: 3, hidden: 4, seed: 10)
    model.up.requiresGradient = false
    let x = randomTensor([2, 3], seed: 11)
    _ = model.valueAndGradient { tape in model(Variable(x), tape: tape).sum() }
    #expect(model.up.gradient.scalars.allSatisfy { $0 == 0 })
    #expect(model.down.gradient.scalars.contains { $0 != 0 })
  }

  @Test func momentsAreAllocatedOnDemand() {
    let model = TinyMLP(width: 2, hidden: 3, seed: 12)
    #expect(!model.arena.hasGradients)
    model.arena.withUnsafeMutableBuffers { buffers in
      #expect(buffers.firstMoments == nil)
      #expect(buffers.gradients.count == model.arena.count)
    }
    model.arena.withUnsafeMutableBuffers(includingMoments: true) { buffers in
      #expect(buffers.firstMoments?.count == model.arena.count)
      #expect(buffers.secondMoments?.allSatisfy { $0 == 0 } == true)
      buffers.firstMoments?[0] = 5
    }
    #expect(model.arena.moments.first[0] == 5)
  }

  @Test func loadCopiesByNameAndNamesTheOffendingTensor() throws {
    let source = TinyMLP(width: 3, hidden: 4, seed: 13)
    let target = TinyMLP(width: 3, hidden: 4, seed: 14)
    var tensors = Dictionary(uniqueKeysWithValues: source.parameters.map { ($0.name, $0.value) })
    try target.arena.load(tensors)
    #expect(target.arena.values == source.arena.values)

    let fresh = TinyMLP(width: 3, hidden: 4, seed: 15)
    let before = fresh.arena.values.contiguousCopy()
    tensors["extra.weight"] = Tensor.zeros([1])
    #expect(throws: ParameterLoadError.unexpectedTensor(name: "extra.weight")) {
      try fresh.arena.load(tensors)
    }
    try fresh.arena.load(tensors, allowUnexpected: true)
    #expect(fresh.arena.values == source.arena.values)

    tensors["extra.weight"] = nil
    tensors["norm.weight"] = nil
    #expect(throws: ParameterLoadError.missingTensor(name: "norm.weight")) {
      try target.arena.load(tensors)
    }
    tensors["norm.weight"] = Tensor.zeros([4])
    let untouched = TinyMLP(width: 3, hidden: 4, seed: 15)
    #expect(
      throws: ParameterLoadError.shapeMismatch(name: "norm.weight", expected: [3], found: [4])
    ) {
      try untouched.arena.load(tensors)
    }
    #expect(untouched.arena.values == before)  // nothing copied on error
  }
}
