import Foundation
import MiniAutograd
import MiniTensor
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// PyTorch's results on small hand-sized cases, from `Fixtures/make_optimizer_reference.py`
/// (torch 2.13, transformers 5.23).
struct OptimizerReference: Decodable {
  struct Run: Decodable {
    var norms: [Float]
    var lrs: [[Double]]
    var after: [String: [Float]]
  }
  struct Schedule: Decodable {
    var kind: String
    var warmup: Int
    var total: Int
    var decay: Int?
    var minRatio: Double
    var factors: [Double]
  }
  var shapes: [String: [Int]]
  var steps: Int
  var initial: [String: [Float]]
  var gradients: [[String: [Float]]]
  var adamwGroups: Run
  var sgdMomentum: Run
  var sgdNesterov: Run
  var schedules: [Schedule]

  static func load() throws -> OptimizerReference {
    let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("optimizer_reference.json")))
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    return try decoder.decode(OptimizerReference.self, from: data)
  }

  /// An arena with parameters `w` [3, 4], `b` [4], `e` [5, 3] at the fixture's initial values.
  func arena() -> ParameterArena {
    var builder = ParameterArena.Builder()
    for name in ["w", "b", "e"] { _ = builder.declare(name, shape: shapes[name]!) }
    let arena = builder.build()
    for parameter in arena.parameters {
      parameter.assign(Tensor(initial[parameter.name]!, shape: parameter.shape))
    }
    return arena
  }

  func setGradients(_ arena: ParameterArena, step: Int) {
    arena.withUnsafeMutableBuffers { buffers in
      for parameter in arena.parameters {
        let g = gradients[step][parameter.name]!
        for i in 0..<parameter.count { buffers.gradients[parameter.offset + i] = g[i] }
      }
    }
  }

  /// Runs `optimizer` over the fixture's steps, clipping to `clip` when given and taking the
  /// learning rate from `schedule` when given; returns the norms and learning rates seen.
  func run(
    _ optimizer: inout some Optimizer, arena: ParameterArena, clip: Float?,
    schedule: LearningRateSchedule?
  ) -> (norms: [Float], lrs: [Float]) {
    var norms: [Float] = []
    var lrs: [Float] = []
    for step in 0..<steps {
      setGradients(arena, step: step)
      if let clip { norms.append(arena.clipGradients(maxNorm: clip)) }
      if let schedule { optimizer.learningRate = schedule.learningRate(atStep: step) }
      lrs.append(optimizer.learningRate)
      optimizer.update(arena)
    }
    return (norms, lrs)
  }
}

@Suite struct OptimizerReferenceTests {
  @Test func adamWParameterGroupsClippingAndCosineScheduleMatchTorch() throws {
    let reference = try OptimizerReference.load()
    let arena = reference.arena()
    // torch: groups [{w, e}: weight decay 0.1] and [{b}: weight decay 0, lr 5e-3 = half].
    var optimizer = AdamW(
      learningRate: 1e-2, beta1: 0.9, beta2: 0.95, epsilon: 1e-8, weightDecay: 0.1,
      groups: [ParameterGroup(parameterNames: ["b"], weightDecay: 0, learningRateScale: 0.5)])
    let schedule = LearningRateSchedule(
      kind: .cosine, peakLearningRate: 1e-2, minimumLearningRate: 1e-3, warmupSteps: 1,
      totalSteps: reference.steps)
    let seen = reference.run(&optimizer, arena: arena, clip: 1.0, schedule: schedule)
    // Norms: ours sums in Double, torch in Float: 1e-6 relative.
    expectClose(seen.norms, reference.adamwGroups.norms, rtol: 1e-6, atol: 0)
    expectClose(seen.lrs, reference.adamwGroups.lrs.map { Float($0[0]) }, rtol: 1e-7, atol: 0)
    #expect(optimizer.step == reference.steps)
    for parameter in arena.parameters {
      // Four steps of Float32 arithmetic in a different order: 1e-6 absolute.
      expectClose(
        parameter.value.scalars, reference.adamwGroups.after[parameter.name]!, rtol: 0,
        atol: 1e-6, "\(parameter.name)")
    }
  }

  @Test func sgdWithMomentumWeightDecayAndClippingMatchesTorch() throws {
    let reference = try OptimizerReference.load()
    let arena = reference.arena()
    var optimizer = SGD(learningRate: 0.1, momentum: 0.9, weightDecay: 0.01)
    let seen = reference.run(&optimizer, arena: arena, clip: 0.5, schedule: nil)
    expectClose(seen.norms, reference.sgdMomentum.norms, rtol: 1e-6, atol: 0)
    for parameter in arena.parameters {
      expectClose(
        parameter.value.scalars, reference.sgdMomentum.after[parameter.name]!, rtol: 0,
        atol: 1e-6, "\(parameter.name)")
    }
  }

  @Test func sgdWithNesterovMomentumMatchesTorch() throws {
    let reference = try OptimizerReference.load()
    let arena = reference.arena()
    var optimizer = SGD(learningRate: 0.05, momentum: 0.8, nesterov: true)
    _ = reference.run(&optimizer, arena: arena, clip: nil, schedule: nil)
    for parameter in arena.parameters {
      expectClose(
        parameter.value.scalars, reference.sgdNesterov.after[parameter.name]!, rtol: 0,
        atol: 1e-6, "\(parameter.name)")
    }
  }

  @Test func schedulesMatchTransformers() throws {
    let reference = try OptimizerReference.load()
    #expect(reference.schedules.count == 5)
    for entry in reference.schedules {
      let kind = try #require(LearningRateSchedule.Kind(rawValue: entry.kind))
      let schedule = LearningRateSchedule(
        kind: kind, peakLearningRate: 1, minimumLearningRate: Float(entry.minRatio),
        warmupSteps: entry.warmup, totalSteps: entry.total, decaySteps: entry.decay)
      for (step, expected) in entry.factors.enumerated() {
        // The floor goes through Float (minimumLearningRate), so 1e-7 relative.
        #expect(
          abs(schedule.factor(atStep: step) - expected) <= 1e-7 * max(1, abs(expected)),
          "\(entry.kind) step \(step): \(schedule.factor(atStep: step)) vs \(expected)")
      }
    }
  }
}
