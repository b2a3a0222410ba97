import MiniAutograd
import MiniTensor

/// Stochastic gradient descent with momentum, as `torch.optim.SGD`: L2 weight decay added to
/// the gradient, the momentum buffer started from the first gradient, optional dampening and
/// Nesterov momentum. The momentum buffer lives in the arena's first-moment buffer.
public struct SGD: Optimizer, Sendable, Codable, Equatable {
  /// Step size.
  public var learningRate: Float
  /// Momentum factor (0: plain SGD).
  public var momentum: Float
  /// Dampening of the gradient added to the momentum buffer.
  public var dampening: Float
  /// L2 penalty added to the gradient (coupled, unlike AdamW's).
  public var weightDecay: Float
  /// Nesterov momentum.
  public var nesterov: Bool
  /// Which parameters decay (for parameters in no group).
  public var decayPolicy: WeightDecayPolicy
  /// Parameter groups with their own weight decay and learning-rate scale.
  public var groups: [ParameterGroup]
  /// Updates taken so far.
  public private(set) var step = 0

  /// `sgd`.
  public var name: String { "sgd" }

  /// The hyper-parameters (the step is optimizer state, saved with the momentum buffers).
  enum CodingKeys: String, CodingKey {
    case learningRate = "learning_rate"
    case momentum, dampening, nesterov, groups
    case weightDecay = "weight_decay"
    case decayPolicy = "decay_policy"
  }

  /// SGD; by default weight decay applies to every parameter, as in PyTorch.
  public init(
    learningRate: Float, momentum: Float = 0, dampening: Float = 0, weightDecay: Float = 0,
    nesterov: Bool = false, decayPolicy: WeightDecayPolicy = .all, groups: [ParameterGroup] = []
  ) {
    precondition(
      !nesterov || (momentum > 0 && dampening == 0),
      "SGD: Nesterov momentum needs momentum > 0 and no dampening")
    self.learningRate = learningRate
    self.momentum = momentum
    self.dampening = dampening
    self.weightDecay = weightDecay
    self.nesterov = nesterov
    self.decayPolicy = decayPolicy
    self.groups = groups
  }

  /// Applies one update to every trainable parameter of `arena`.
  public mutating func update(_ arena: ParameterArena) {
    let first = step == 0
    step += 1
    let (mu, dampen, isNesterov) = (momentum, 1 - dampening, nesterov)
    arena.withUnsafeMutableBuffers(includingMoments: momentum != 0) { buffers in
      let p = buffers.values.baseAddress!
      let g = buffers.gradients.baseAddress!
      let buffer = buffers.firstMoments?.baseAddress
      for parameter in arena.parameters where parameter.requiresGradient {
        let group = groups.group(of: parameter.name)
        let decay =
          group?.weightDecay ?? (decayPolicy == .all || parameter.weightDecay ? weightDecay : 0)
        let lr = learningRate * (group?.learningRateScale ?? 1)
        let base = parameter.offset
        parallelFor(parameter.count, grain: 1 << 15) { range in
          for i in (base + range.lowerBound)..<(base + range.upperBound) {
            var d = g[i]
            if decay != 0 { d += decay * p[i] }
            if let buffer {
              buffer[i] = first ? d : buffer[i] * mu + dampen * d
              d = isNesterov ? d + mu * buffer[i] : buffer[i]
            }
            p[i] += -lr * d
          }
        }
      }
    }
  }

  /// `<parameter>.momentum_buffer` (with momentum) and `step`.
  public func stateEntries(for arena: ParameterArena) -> [SafeTensorsEntry] {
    var entries = [ArenaBufferIO.stepEntry(step)]
    if momentum != 0 {
      entries += ArenaBufferIO.entries(arena.moments.first, of: arena, suffix: "momentum_buffer")
    }
    return entries
  }

  /// Reads the momentum buffer and step written by ``stateEntries(for:)``.
  public mutating func restoreState(from file: SafeTensorsFile, for arena: ParameterArena) throws {
    try ArenaBufferIO.checkOptimizer(file, name: name)
    let restoredStep = try ArenaBufferIO.loadStep(file)
    if momentum != 0 {
      try arena.withUnsafeMutableBuffers(includingMoments: true) { buffers in
        try ArenaBufferIO.load(
          file, suffix: "momentum_buffer", into: buffers.firstMoments!, arena: arena)
      }
    }
    step = restoredStep
  }
}
