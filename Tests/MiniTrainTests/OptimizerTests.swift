import Foundation
import MiniAutograd
import MiniTensor
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

@Suite struct OptimizerTests {
  /// An arena with a matrix `w` [2, 3] and a vector `b` [3] at fixed values.
  func smallArena() -> ParameterArena {
    var builder = ParameterArena.Builder()
    let w = builder.declare("w", shape: [2, 3])
    let b = builder.declare("b", shape: [3])
    let arena = builder.build()
    w.assign(Tensor([1, -2, 3, -4, 5, -6], shape: [2, 3]))
    b.assign(Tensor([0.5, -0.5, 2], shape: [3]))
    return arena
  }

  @Test func clippingScalesByMaxNormOverNormPlusEpsilon() {
    var builder = ParameterArena.Builder()
    _ = builder.declare("a", shape: [1])
    _ = builder.declare("b", shape: [1])
    let arena = builder.build()
    arena.withUnsafeMutableBuffers {
      $0.gradients[0] = 3; $0.gradients[1] = 4
    }
    #expect(arena.gradientNorm() == 5)
    let norm = arena.clipGradients(maxNorm: 1)
    #expect(norm == 5)
    let coefficient: Float = 1 / (5 + 1e-6)
    #expect(arena.gradients.scalars == [3 * coefficient, 4 * coefficient])
    // Below the threshold nothing changes.
    let before = arena.gradients.scalars
    #expect(abs(arena.clipGradients(maxNorm: 10) - 5 * coefficient) < 1e-6)
    #expect(arena.gradients.scalars == before)
  }

  @Test func nonFiniteNormLeavesGradientsAsTheyAre() {
    let arena = smallArena()
    arena.withUnsafeMutableBuffers { $0.gradients[4] = .infinity }
    #expect(arena.clipGradients(maxNorm: 1) == .infinity)
    #expect(arena.gradients.scalars[4] == .infinity)
    arena.withUnsafeMutableBuffers { $0.gradients[4] = .nan }
    #expect(arena.gradientNorm().isNaN)
  }

  @Test func gradientNormIsTheL2NormOfEveryGradient() {
    var builder = ParameterArena.Builder()
    _ = builder.declare("big", shape: [300_001], initializer: .zeros)
    let frozen = builder.declare("frozen", shape: [10], initializer: .zeros)
    let arena = builder.build()
    frozen.requiresGradient = false
    var rng = PhiloxRNG(seed: 3)
    arena.withUnsafeMutableBuffers { buffers in
      rng.fillNormal(buffers.gradients, mean: 0, standardDeviation: 1)
    }
    // Summed in Double over fixed chunks: within 1e-7 of the exact norm (Float rounding only);
    // frozen parameters do not count.
    let exact = arena.gradients.scalars.prefix(300_001).reduce(0.0) { $0 + Double($1) * Double($1) }
      .squareRoot()
    let norm = arena.gradientNorm()
    #expect(abs(Double(norm) - exact) <= 1e-7 * exact)
    #expect(arena.gradientNorm().bitPattern == norm.bitPattern)
  }

  @Test func schedulesFollowTheirFormulasAtHandPickedSteps() {
    func schedule(_ kind: LearningRateSchedule.Kind) -> LearningRateSchedule {
      LearningRateSchedule(
        kind: kind, peakLearningRate: 2, minimumLearningRate: 0.2, warmupSteps: 10,
        totalSteps: 110, decaySteps: 20)
    }
    let cosine = schedule(.cosine)
    #expect(cosine.learningRate(atStep: 0) == 0)
    #expect(cosine.learningRate(atStep: 5) == 1)  // half-way through warmup
    #expect(cosine.learningRate(atStep: 10) == 2)  // peak
    // Half-way through the decay: floor + (peak − floor)·(1 + cos(π/2))/2 = 0.2 + 1.8·0.5.
    #expect(abs(cosine.learningRate(atStep: 60) - 1.1) < 1e-6)
    #expect(abs(cosine.learningRate(atStep: 110) - 0.2) < 1e-6)
    let linear = schedule(.linear)
    #expect(linear.learningRate(atStep: 5) == 1)
    #expect(abs(linear.learningRate(atStep: 35) - (0.2 + 1.8 * 0.75)) < 1e-6)
    #expect(abs(linear.learningRate(atStep: 110) - 0.2) < 1e-6)
    #expect(abs(linear.learningRate(atStep: 500) - 0.2) < 1e-6)
    let constant = schedule(.constant)
    #expect(constant.learningRate(atStep: 3) == 0.6)
    #expect(constant.learningRate(atStep: 99) == 2)
    let wsd = schedule(.wsd)
    // Warmup starts at the floor: 0.2 + 1.8·(5/10).
    #expect(abs(wsd.learningRate(atStep: 5) - 1.1) < 1e-6)
    #expect(wsd.learningRate(atStep: 89) == 2)  // stable until 110 − 20
    #expect(abs(wsd.learningRate(atStep: 100) - 1.1) < 1e-6)  // half-way through the decay
    #expect(abs(wsd.learningRate(atStep: 110) - 0.2) < 1e-6)
  }

  @Test func adamWFirstStepMatchesTheFormula() {
    var builder = ParameterArena.Builder()
    let p = builder.declare("p", shape: [1])
    let arena = builder.build()
    p.assign(Tensor([1], shape: [1]))
    arena.withUnsafeMutableBuffers { $0.gradients[0] = 0.5 }
    var optimizer = AdamW(
      learningRate: 0.1, beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0)
    optimizer.update(arena)
    // m̂ = 0.5, v̂ = 0.25: p − lr·m̂/(√v̂ + eps).
    let expected = 1 - 0.1 * 0.5 / (0.5 + 1e-8)
    #expect(abs(Double(p.value.scalars[0]) - expected) < 1e-7)
    #expect(optimizer.step == 1)
  }

  @Test func adamWDecaysOnlyMatricesByDefaultAndSkipsFrozenParameters() {
    let arena = smallArena()
    let before = arena.values.scalars
    arena.zeroGradients()
    var optimizer = AdamW(learningRate: 0.1, weightDecay: 0.5)
    optimizer.update(arena)
    let factor = Float(1 - 0.1 * 0.5)
    let after = arena.values.scalars
    #expect(Array(after[0..<6]) == before[0..<6].map { $0 * factor })
    #expect(Array(after[6...]) == Array(before[6...]))
    // Decay on everything with .all; a frozen parameter is left alone.
    let second = smallArena()
    second.parameter(named: "w")!.requiresGradient = false
    var all = AdamW(learningRate: 0.1, weightDecay: 0.5, decayPolicy: .all)
    second.zeroGradients()
    all.update(second)
    #expect(Array(second.values.scalars[0..<6]) == Array(before[0..<6]))
    #expect(Array(second.values.scalars[6...]) == before[6...].map { $0 * factor })
  }

  @Test(arguments: ["adamw", "sgd"])
  func optimizerStateRoundTripsThroughSafetensors(_ kind: String) throws {
    func make() -> any Optimizer {
      kind == "adamw" ? AdamW(learningRate: 0.01) : SGD(learningRate: 0.01, momentum: 0.9)
    }
    let arena = smallArena()
    var optimizer = make()
    for step in 0..<3 {
      arena.withUnsafeMutableBuffers { buffers in
        for i in 0..<buffers.gradients.count { buffers.gradients[i] = Float(i - step) * 0.1 }
      }
      optimizer.update(arena)
    }
    let directory = try temporaryDirectory()
    let path = directory + "/optimizer.safetensors"
    try SafeTensors.write(
      optimizer.stateEntries(for: arena), metadata: ["optimizer": optimizer.name], to: path)
    let copy = smallArena()
    var restored = make()
    try restored.restoreState(from: SafeTensorsFile(path: path), for: copy)
    #expect(restored.step == 3)
    #expect(arenaBits(copy).first == arenaBits(arena).first)
    if kind == "adamw" { #expect(arenaBits(copy).second == arenaBits(arena).second) }
    // The other optimizer refuses the file.
    var other: any Optimizer = kind == "adamw" ? SGD(learningRate: 1) : AdamW()
    #expect(throws: CheckpointError.self) {
      try other.restoreState(from: SafeTensorsFile(path: path), for: copy)
    }
  }
}
