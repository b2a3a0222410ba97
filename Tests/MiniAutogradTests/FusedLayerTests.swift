import MiniAutograd
import MiniTensor
import TestSupport
import Testing

/// Runs `fused` and `reference` on the same inputs, back-propagates the same random projection
/// through both, and compares values (≤ 1e-5) and every input's gradient (≤ 1e-4 of the
/// tensor's largest element: the same sums in other orders, whatever the kernel).
func expectFusedMatchesReference(
  _ inputs: [Tensor], _ comment: Comment? = nil,
  sourceLocation: SourceLocation = #_sourceLocation,
  fused: ([Variable]) -> Variable, reference: ([Variable]) -> Variable
) {
  func run(_ function: ([Variable]) -> Variable) -> (Tensor, [Tensor?]) {
    let tape = Tape()
    let variables = inputs.map { tape.variable($0) }
    let output = function(variables)
    tape.backward(from: output, seed: randomTensor(output.shape, seed: 99))
    return (output.value, variables.map { tape.gradient(of: $0) })
  }
  let (fusedValue, fusedGradients) = run(fused)
  let (referenceValue, referenceGradients) = run(reference)
  expectClose(
    fusedValue, referenceValue, rtol: 1e-5, atol: 1e-5, comment, sourceLocation: sourceLocation)
  for (i, (a, b)) in zip(fusedGradients, referenceGradients).enumerated() {
    let zeros = Tensor.zeros(inputs[i].shape)
    expectCloseScaled(
      a ?? zeros, b ?? zeros, rtol: 1e-4, atol: 1e-6,
      "gradient \(i) \(comment.map { "\($0)" } ?? "")",
      sourceLocation: sourceLocation)
  }
}

/// The full `[sequence, headDim]` cos/sin tensors of a kernel table for `positions`.
func ropeTensors(_ table: RopeTable, positions: Range<Int>) -> (cos: Tensor, sin: Tensor) {
  let half = table.headDim / 2
  func expand(_ values: [Float]) -> Tensor {
    Tensor(shape: [positions.count, table.headDim]) { out in
      for (row, p) in positions.enumerated() {
        for i in 0..<half {
          out[row * table.headDim + i] = values[p * half + i]
          out[row * table.headDim + half + i] = values[p * half + i]
        }
      }
    }
  }
  return (expand(table.cos), expand(table.sin))
}

@Suite("fused RMSNorm and SwiGLU")
struct FusedNormAndGateTests {
  @Test(arguments: awkwardSizes)
  func rmsNormMatchesReferenceAndFiniteDifferences(dim: Int) {
    for rows in [1, 5] {
      let x = randomTensor([rows, 2, dim], seed: 100)
      let w = uniformTensor([dim], in: 0.5..<1.5, seed: 101)
      expectFusedMatchesReference([x, w], "rows \(rows) dim \(dim)") { v in
        rmsNorm(v[0], weight: v[1], eps: 1e-6)
      } reference: { v in
        Unfused.rmsNorm(v[0], weight: v[1], eps: 1e-6)
      }
      // Rows of one element are nearly sign(x): keep x away from 0, where a step of 1e-2 is
      // too coarse for central differences.
      let away = x.map { $0 + ($0 < 0 ? -0.5 : 0.5) }
      expectGradientsMatch([away, w]) { _, v in rmsNorm(v[0], weight: v[1], eps: 1e-6) }
    }
  }

  @Test func rmsNormGradientToOneTrackedInputOnly() {
    let x = randomTensor([3, 5], seed: 102)
    let w = uniformTensor([5], in: 0.5..<1.5, seed: 103)
    expectGradientsMatch([x]) { _, v in rmsNorm(v[0], weight: Variable(w), eps: 1e-5) }
    expectGradientsMatch([w]) { _, v in rmsNorm(Variable(x), weight: v[0], eps: 1e-5) }
  }

  @Test(arguments: awkwardSizes)
  func swigluMatchesReferenceAndFiniteDifferences(n: Int) {
    let gate = randomTensor([2, n, 3], seed: 104, scale: 2)
    let up = randomTensor([2, n, 3], seed: 105)
    expectFusedMatchesReference([gate, up], "n \(n)") { v in
      swiglu(gate: v[0], up: v[1])
    } reference: { v in
      Unfused.swiglu(gate: v[0], up: v[1])
    }
    expectGradientsMatch([gate, up]) { _, v in swiglu(gate: v[0], up: v[1]) }
  }
}

@Suite("fused RoPE")
struct FusedRopeTests {
  @Test(arguments: awkwardSizes)
  func ropeMatchesReferenceAndFiniteDifferences(sequence: Int) {
    for (heads, headDim, start) in [(1, 2, 0), (3, 6, 4), (2, 34, 1)] {
      let table = RopeTable(headDim: headDim, maxPositions: 40, theta: 500)
      let x = randomTensor([2, sequence, heads, headDim], seed: 110)
      let (cos, sin) = ropeTensors(table, positions: start..<(start + sequence))
      expectFusedMatchesReference([x], "heads \(heads) dim \(headDim) start \(start)") { v in
        rope(v[0], table: table, startPosition: start)
      } reference: { v in
        Unfused.rope(v[0], cos: cos, sin: sin)
      }
      expectGradientsMatch([x]) { _, v in rope(v[0], table: table, startPosition: start) }
    }
  }

  @Test func referenceTablesAgreeWithKernelTables() {
    for (headDim, theta) in [(4, Float(10_000)), (34, 500_000)] {
      let table = RopeTable(headDim: headDim, maxPositions: 300, theta: theta)
      let (cos, sin) = ropeTensors(table, positions: 0..<300)
      let reference = Unfused.ropeTables(headDim: headDim, positions: 0..<300, theta: theta)
      expectClose(reference.cos, cos, rtol: 0, atol: 2e-5)
      expectClose(reference.sin, sin, rtol: 0, atol: 2e-5)
    }
  }
}

@Suite("fused causal attention")
struct FusedAttentionTests {
  @Test(arguments: awkwardSizes)
  func attentionMatchesReferenceAndFiniteDifferences(sequence: Int) {
    // (query heads, kv heads, cached prefix, head dim): MHA, GQA, MQA with a prefix, wide heads.
    for (queryHeads, kvHeads, past, headDim) in [
      (2, 2, 0, 3), (4, 2, 0, 5), (3, 1, 2, 1), (2, 1, 0, 17),
    ] {
      let q = randomTensor([2, sequence, queryHeads, headDim], seed: 120)
      let k = randomTensor([2, sequence + past, kvHeads, headDim], seed: 121)
      let v = randomTensor([2, sequence + past, kvHeads, headDim], seed: 122)
      let label = "T \(sequence) heads \(queryHeads)/\(kvHeads) past \(past) D \(headDim)"
      expectFusedMatchesReference([q, k, v], "\(label)") { x in
        causalAttention(q: x[0], k: x[1], v: x[2])
      } reference: { x in
        Unfused.causalAttention(q: x[0], k: x[1], v: x[2])
      }
      expectGradientsMatch([q, k, v], "\(label)") { _, x in
        causalAttention(q: x[0], k: x[1], v: x[2])
      }
    }
  }

  @Test func untrackedAttentionEqualsTrackedValue() {
    let q = randomTensor([1, 4, 2, 8], seed: 123)
    let k = randomTensor([1, 4, 2, 8], seed: 124)
    let tape = Tape()
    let tracked = causalAttention(q: tape.variable(q), k: Variable(k), v: Variable(k))
    let untracked = causalAttention(q: Variable(q), k: Variable(k), v: Variable(k))
    #expect(tracked.value == untracked.value)
    #expect(!untracked.isTracked)
  }
}

@Suite("fused cross-entropy")
struct FusedCrossEntropyTests {
  static func targets(rows: Int, vocab: Int) -> [Int32] {
    (0..<rows).map { Int32(($0 * 7 + 2) % vocab) }
  }

  @Test(arguments: awkwardSizes)
  func crossEntropyMatchesReferenceAndFiniteDifferences(rows: Int) {
    for vocab in [1, 5, 33] {
      let logits = randomTensor([rows, vocab], seed: 130, scale: 3)
      var targets = Self.targets(rows: rows, vocab: vocab)
      if rows > 2 { targets[1] = -100 }
      let weights = (0..<rows).map { Float(($0 * 3) % 4) * 0.5 }
      for w in [nil, weights] {
        let label = "rows \(rows) vocab \(vocab) weights \(w != nil)"
        expectFusedMatchesReference([logits], "\(label)") { v in
          crossEntropy(logits: v[0], targets: targets, weights: w)
        } reference: { v in
          Unfused.crossEntropy(logits: v[0], targets: targets, weights: w)
        }
        expectGradientsMatch([logits], "\(label)") { _, v in
          crossEntropy(logits: v[0], targets: targets, weights: w)
        }
      }
    }
  }

  @Test func nothingCountedGivesZeroLossAndZeroGradient() {
    let logits = randomTensor([2, 3, 6], seed: 131)
    let cases: [([Int32], [Float]?)] = [
      ([Int32](repeating: -100, count: 6), nil),
      ([0, 1, 2, 3, 4, 5], [Float](repeating: 0, count: 6)),
      ([Int32](repeating: 7, count: 6), nil),
    ]
    for (i, (targets, weights)) in cases.enumerated() {
      let tape = Tape()
      let x = tape.variable(logits)
      let ignoreIndex: Int32 = i == 2 ? 7 : -100
      let loss = crossEntropy(
        logits: x, targets: targets, weights: weights, ignoreIndex: ignoreIndex)
      #expect(loss.value.item == 0)
      tape.backward(from: loss)
      let gradient = tape.gradient(of: x)
      #expect(gradient?.shape == [2, 3, 6])
      #expect(gradient?.scalars.allSatisfy { $0 == 0 } == true, "case \(i)")
    }
  }

  @Test func inPlaceGradientEqualsCopiedGradient() {
    let weight = randomTensor([9, 4], seed: 132)
    let h = randomTensor([5, 4], seed: 133)
    let targets = Self.targets(rows: 5, vocab: 9)
    // Logits kept alive by the caller: the backward must copy them.
    let keptTape = Tape()
    let keptWeight = keptTape.variable(weight)
    let logits = linear(Variable(h), keptWeight)
    keptTape.backward(from: crossEntropy(logits: logits, targets: targets))
    // Logits owned by the tape alone: written in place.
    let tape = Tape()
    let w = tape.variable(weight)
    tape.backward(from: crossEntropy(logits: linear(Variable(h), w), targets: targets))
    #expect(tape.gradient(of: w) == keptTape.gradient(of: keptWeight))
    #expect(logits.value == matmul(h, weight, transposeB: true))  // untouched
  }

  @Test(arguments: awkwardSizes)
  func tokenLogProbabilitiesMatchReference(rows: Int) {
    let logits = randomTensor([rows, 11], seed: 134, scale: 2)
    var targets = Self.targets(rows: rows, vocab: 11)
    targets[0] = -100
    expectFusedMatchesReference([logits], "rows \(rows)") { v in
      tokenLogProbabilities(logits: v[0], targets: targets)
    } reference: { v in
      Unfused.tokenLogProbabilities(logits: v[0], targets: targets)
    }
    expectGradientsMatch([logits]) { _, v in tokenLogProbabilities(logits: v[0], targets: targets) }
  }
}
