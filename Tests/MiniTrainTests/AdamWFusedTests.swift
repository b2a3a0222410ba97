import Foundation
import MiniAutograd
import MiniTensor
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// The fused, vectorised AdamW pass against the per-element formula, bit for bit.
@Suite struct AdamWFusedTests {
  /// The scalar update AdamW documents, element by element, in the same operation order.
  func referenceUpdate(
    values: inout [Float], gradients: [Float], m: inout [Float], v: inout [Float],
    ranges: [(range: Range<Int>, learningRate: Float, decay: Float)], step: Int,
    beta1: Float, beta2: Float, epsilon: Float
  ) {
    let correction1 = 1 - pow(Double(beta1), Double(step))
    let correction2 = Float((1 - pow(Double(beta2), Double(step))).squareRoot())
    for (range, lr, decay) in ranges {
      let stepSize = Float(Double(lr) / correction1)
      let decayFactor = Float(1 - Double(lr) * Double(decay))
      for i in range {
        if decay != 0 { values[i] *= decayFactor }
        let g = gradients[i]
        m[i] = beta1 * m[i] + (1 - beta1) * g
        v[i] = beta2 * v[i] + (1 - beta2) * g * g
        let denominator = v[i].squareRoot() / correction2 + epsilon
        values[i] -= stepSize * (m[i] / denominator)
      }
    }
  }

  @Test func matchesTheScalarFormulaBitForBitOverSegmentsAndTails() {
    // Odd sizes (vector tails), a norm without decay, a frozen parameter, a group with its own
    // rate and decay, and one parameter large enough to be split over threads.
    var builder = ParameterArena.Builder()
    _ = builder.declare("a.weight", shape: [37, 3])
    _ = builder.declare("a.norm", shape: [5])
    let frozen = builder.declare("frozen.weight", shape: [3, 3])
    _ = builder.declare("big.weight", shape: [701, 197])
    _ = builder.declare("head.weight", shape: [13, 7])
    let arena = builder.build(seed: 4)
    frozen.requiresGradient = false
    let group = ParameterGroup(
      parameterNames: ["head.weight"], weightDecay: 0.01, learningRateScale: 0.5)
    var optimizer = AdamW(learningRate: 0.003, weightDecay: 0.1, groups: [group])
    var values = arena.values.scalars
    var m = [Float](repeating: 0, count: arena.count)
    var v = m
    let lr = optimizer.learningRate
    let ranges = arena.parameters.filter(\.requiresGradient).map { p in
      let (rate, decay) = optimizer.hyperParameters(for: p)
      return (range: p.offset..<(p.offset + p.count), learningRate: rate, decay: decay)
    }
    #expect(ranges.count == 4 && lr == 0.003)
    var rng = PhiloxRNG(seed: 9)
    for step in 1...3 {
      arena.withUnsafeMutableBuffers { buffers in
        rng.fillNormal(buffers.gradients, mean: 0, standardDeviation: 0.3)
      }
      let gradients = arena.gradients.scalars
      optimizer.update(arena)
      referenceUpdate(
        values: &values, gradients: gradients, m: &m, v: &v, ranges: ranges, step: step,
        beta1: optimizer.beta1, beta2: optimizer.beta2, epsilon: optimizer.epsilon)
      #expect(arena.values.scalars == values, "step \(step)")
      #expect(arena.moments.first.scalars == m)
      #expect(arena.moments.second.scalars == v)
    }
  }
}
