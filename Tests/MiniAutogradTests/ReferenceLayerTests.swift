import Foundation
import MiniAutograd
import MiniTensor
import TestSupport
import Testing

/// Direct `Double` loops for each layer: the independent check of the unfused references.
enum Naive {
  static func rmsNorm(_ x: [Float], weight: [Float], eps: Float) -> [Float] {
    let dim = weight.count
    var out = [Float](repeating: 0, count: x.count)
    for r in 0..<(x.count / dim) {
      let row = x[(r * dim)..<((r + 1) * dim)]
      let meanSquare = row.reduce(0.0) { $0 + Double($1) * Double($1) } / Double(dim)
      let scale = 1 / (meanSquare + Double(eps)).squareRoot()
      for i in 0..<dim { out[r * dim + i] = Float(Double(x[r * dim + i]) * scale) * weight[i] }
    }
    return out
  }

  static func rope(_ x: Tensor, theta: Double, startPosition: Int) -> [Float] {
    let (b, t, h, d) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let v = x.scalars
    var out = v
    let half = d / 2
    for bi in 0..<b {
      for ti in 0..<t {
        for hi in 0..<h {
          let base = ((bi * t + ti) * h + hi) * d
          for i in 0..<half {
            let angle =
              Double(startPosition + ti) / Foundation.pow(theta, Double(2 * i) / Double(d))
            let (x1, x2) = (Double(v[base + i]), Double(v[base + half + i]))
            out[base + i] = Float(x1 * Foundation.cos(angle) - x2 * Foundation.sin(angle))
            out[base + half + i] = Float(x2 * Foundation.cos(angle) + x1 * Foundation.sin(angle))
          }
        }
      }
    }
    return out
  }

  static func attention(q: Tensor, k: Tensor, v: Tensor) -> [Float] {
    let (b, t, hq, d) = (q.shape[0], q.shape[1], q.shape[2], q.shape[3])
    let (s, hkv) = (k.shape[1], k.shape[2])
    let (qs, ks, vs) = (q.scalars, k.scalars, v.scalars)
    var out = [Float](repeating: 0, count: q.count)
    for bi in 0..<b {
      for h in 0..<hq {
        let g = h / (hq / hkv)
        for ti in 0..<t {
          let visible = s - t + ti + 1
          var scores = [Double](repeating: 0, count: visible)
          for si in 0..<visible {
            var dot = 0.0
            for i in 0..<d {
              dot +=
                Double(qs[((bi * t + ti) * hq + h) * d + i])
                * Double(ks[((bi * s + si) * hkv + g) * d + i])
            }
            scores[si] = dot / Double(d).squareRoot()
          }
          let top = scores.max()!
          let weights = scores.map { Foundation.exp($0 - top) }
          let total = weights.reduce(0, +)
          for i in 0..<d {
            var acc = 0.0
            for si in 0..<visible {
              acc += weights[si] / total * Double(vs[((bi * s + si) * hkv + g) * d + i])
            }
            out[((bi * t + ti) * hq + h) * d + i] = Float(acc)
          }
        }
      }
    }
    return out
  }

  static func crossEntropy(
    _ logits: Tensor, targets: [Int32], weights: [Float]?, ignoreIndex: Int32
  ) -> Float {
    let vocab = logits.shape[logits.rank - 1]
    let l = logits.scalars
    var total = 0.0
    var weightSum = 0.0
    for (r, target) in targets.enumerated() where target != ignoreIndex {
      let row = l[(r * vocab)..<((r + 1) * vocab)].map(Double.init)
      let top = row.max()!
      let lse = top + Foundation.log(row.reduce(0.0) { $0 + Foundation.exp($1 - top) })
      let w = Double(weights?[r] ?? 1)
      total += w * (lse - row[Int(target)])
      weightSum += w
    }
    return weightSum == 0 ? 0 : Float(total / weightSum)
  }
}

@Suite("unfused reference layers")
struct ReferenceLayerTests {
  @Test(arguments: awkwardSizes)
  func rmsNormMatchesLoopAndFiniteDifferences(dim: Int) {
    let x = randomTensor([3, dim], seed: 80)
    let w = uniformTensor([dim], in: 0.5..<1.5, seed: 81)
    let y = Unfused.rmsNorm(Variable(x), weight: Variable(w), eps: 1e-5).value
    expectClose(
      y.scalars, Naive.rmsNorm(x.scalars, weight: w.scalars, eps: 1e-5), rtol: 1e-5, atol: 1e-6)
    // Rows of one element are nearly sign(x): keep x away from 0 for central differences.
    let away = x.map { $0 + ($0 < 0 ? -0.5 : 0.5) }
    expectGradientsMatch([away, w]) { _, v in Unfused.rmsNorm(v[0], weight: v[1], eps: 1e-5) }
  }

  @Test(arguments: awkwardSizes)
  func ropeMatchesLoopAndFiniteDifferences(sequence: Int) {
    for (heads, headDim, start) in [(1, 2, 0), (3, 6, 5)] {
      let x = randomTensor([2, sequence, heads, headDim], seed: 82)
      let (cos, sin) = Unfused.ropeTables(
        headDim: headDim, positions: start..<(start + sequence), theta: 10_000)
      let y = Unfused.rope(Variable(x), cos: cos, sin: sin).value
      expectClose(
        y.scalars, Naive.rope(x, theta: 10_000, startPosition: start), rtol: 1e-5, atol: 2e-6)
      expectGradientsMatch([x]) { _, v in Unfused.rope(v[0], cos: cos, sin: sin) }
    }
  }

  @Test(arguments: awkwardSizes)
  func attentionMatchesLoopAndFiniteDifferences(sequence: Int) {
    // (query heads, kv heads, extra cached positions): MHA, GQA 2:1, MQA with a longer cache.
    for (queryHeads, kvHeads, past) in [(2, 2, 0), (4, 2, 0), (3, 1, 2)] {
      let q = randomTensor([2, sequence, queryHeads, 3], seed: 83)
      let k = randomTensor([2, sequence + past, kvHeads, 3], seed: 84)
      let v = randomTensor([2, sequence + past, kvHeads, 3], seed: 85)
      let y = Unfused.causalAttention(q: Variable(q), k: Variable(k), v: Variable(v)).value
      #expect(y.shape == q.shape)
      expectClose(y.scalars, Naive.attention(q: q, k: k, v: v), rtol: 1e-5, atol: 1e-5)
      expectGradientsMatch([q, k, v], "heads \(queryHeads)/\(kvHeads) past \(past)") { _, x in
        Unfused.causalAttention(q: x[0], k: x[1], v: x[2])
      }
    }
  }

  @Test(arguments: awkwardSizes)
  func swigluMatchesFiniteDifferences(n: Int) {
    let gate = randomTensor([n, 5], seed: 86)
    let up = randomTensor([n, 5], seed: 87)
    let y = Unfused.swiglu(gate: Variable(gate), up: Variable(up)).value
    expectClose(y, gate.silu() * up, rtol: 1e-6, atol: 1e-7)
    expectGradientsMatch([gate, up]) { _, v in Unfused.swiglu(gate: v[0], up: v[1]) }
  }

  @Test(arguments: awkwardSizes)
  func crossEntropyMatchesLoopAndFiniteDifferences(rows: Int) {
    let vocab = 7
    let logits = randomTensor([rows, vocab], seed: 88, scale: 2)
    let targets = (0..<rows).map { Int32(($0 * 5 + 3) % vocab) }
    var ignoring = targets
    ignoring[0] = -100
    let weights = (0..<rows).map { Float($0 % 3) * 0.5 + 0.25 }
    for (t, w) in [(targets, nil), (ignoring, nil), (targets, weights), (ignoring, weights)] {
      let loss = Unfused.crossEntropy(logits: Variable(logits), targets: t, weights: w).value
      #expect(loss.shape == [])
      let expected = Naive.crossEntropy(logits, targets: t, weights: w, ignoreIndex: -100)
      expectClose([loss.item], [expected], rtol: 1e-5, atol: 1e-6)
      expectGradientsMatch([logits]) { _, v in
        Unfused.crossEntropy(logits: v[0], targets: t, weights: w)
      }
    }
  }

  @Test func crossEntropyWithNothingCountedIsZeroWithZeroGradient() {
    let logits = randomTensor([3, 5], seed: 89)
    for (targets, weights): ([Int32], [Float]?) in [
      ([-100, -100, -100], nil), ([1, 2, 3], [0, 0, 0]),
    ] {
      let tape = Tape()
      let x = tape.variable(logits)
      let loss = Unfused.crossEntropy(logits: x, targets: targets, weights: weights)
      #expect(loss.value.item == 0)
      tape.backward(from: loss)
      #expect(tape.gradient(of: x)?.scalars.allSatisfy { $0 == 0 } == true)
    }
  }
}
