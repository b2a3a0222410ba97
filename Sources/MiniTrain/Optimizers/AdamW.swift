import MiniAutograd
import MiniTensor

/// Which parameters decoupled weight decay applies to.
public enum WeightDecayPolicy: String, Sendable, Codable {
  /// Each parameter's own flag: by default tensors of two or more dimensions (not norms, biases).
  case byParameter = "by_parameter"
  /// Every parameter (one group, as `torch.optim.AdamW(model.parameters())`).
  case all
}

/// AdamW with PyTorch's conventions (decoupled weight decay applied first, bias correction,
/// `eps` added after the bias-corrected square root), one pass over the whole parameter arena.
///
/// Parameter groups (``groups``) override the weight decay and scale the learning rate of the
/// parameters they name, as PyTorch's `param_groups`; other parameters follow ``decayPolicy``.
/// The moments live in the arena's moment buffers.
public struct AdamW: Optimizer, Sendable, Codable, Equatable {
  /// Step size.
  public var learningRate: Float
  /// First-moment decay.
  public var beta1: Float
  /// Second-moment decay.
  public var beta2: Float
  /// Added to the denominator.
  public var epsilon: Float
  /// Decoupled weight decay coefficient.
  public var weightDecay: Float
  /// Which parameters decay (for parameters in no group).
  public var decayPolicy: WeightDecayPolicy
  /// Parameter groups with their own weight decay and learning-rate scale.
  public var groups: [ParameterGroup] = []
  /// Updates taken so far (the `t` of the bias correction).
  public private(set) var step = 0

  /// `adamw`.
  public var name: String { "adamw" }

  /// The hyper-parameters (the step is optimizer state, saved with the moments).
  enum CodingKeys: String, CodingKey {
    case learningRate = "learning_rate"
    case beta1, beta2, epsilon, groups
    case weightDecay = "weight_decay"
    case decayPolicy = "decay_policy"
  }

  /// AdamW; the defaults are nanoGPT's, as baby-llama2-chinese uses them (betas 0.9/0.95, weight
  /// decay 0.1).
  public init(
    learningRate: Float = 3e-4, beta1: Float = 0.9, beta2: Float = 0.95, epsilon: Float = 1e-8,
    weightDecay: Float = 0.1, decayPolicy: WeightDecayPolicy = .byParameter,
    groups: [ParameterGroup] = []
  ) {
    self.learningRate = learningRate
    self.beta1 = beta1
    self.beta2 = beta2
    self.epsilon = epsilon
    self.weightDecay = weightDecay
    self.decayPolicy = decayPolicy
    self.groups = groups
  }

  /// The weight decay and learning rate that apply to `parameter` at base rate `learningRate`.
  public func hyperParameters(for parameter: Parameter) -> (
    learningRate: Float, weightDecay: Float
  ) {
    let group = groups.group(of: parameter.name)
    let decay =
      group?.weightDecay
      ?? (decayPolicy == .all || parameter.weightDecay ? weightDecay : 0)
    return (learningRate * (group?.learningRateScale ?? 1), decay)
  }

  /// Applies one update to every trainable parameter of `arena` from its gradients; the moments
  /// live in the arena (allocated, zeroed, on the first step).
  ///
  /// One vectorised pass over the arena, split over the threads in equal ranges; each range
  /// walks the parameters it overlaps with their own learning rate and decay. Every element sees
  /// the same operations in the same order as the scalar formula, so results do not depend on
  /// the thread count.
  public mutating func update(_ arena: ParameterArena) {
    step += 1
    let t = Double(step)
    let correction1 = 1 - pow(Double(beta1), t)
    let correction2 = Float((1 - pow(Double(beta2), t)).squareRoot())
    let constants = AdamWConstants(
      beta1: beta1, beta2: beta2, epsilon: epsilon, correction2: correction2)
    var segments: [AdamWSegment] = []
    for parameter in arena.parameters where parameter.requiresGradient && parameter.count > 0 {
      let (lr, decay) = hyperParameters(for: parameter)
      let segment = AdamWSegment(
        start: parameter.offset, end: parameter.offset + parameter.count,
        stepSize: Float(Double(lr) / correction1),
        decayFactor: decay != 0 ? Float(1 - Double(lr) * Double(decay)) : nil)
      // Neighbours with the same settings form one run.
      if let last = segments.last, last.end == segment.start, last.stepSize == segment.stepSize,
        last.decayFactor == segment.decayFactor
      {
        segments[segments.count - 1].end = segment.end
      } else {
        segments.append(segment)
      }
    }
    let total = segments.reduce(0) { $0 + $1.end - $1.start }
    if total == 0 { return }
    arena.withUnsafeMutableBuffers(includingMoments: true) { buffers in
      let p = buffers.values.baseAddress!
      let g = buffers.gradients.baseAddress!
      let m = buffers.firstMoments!.baseAddress!
      let v = buffers.secondMoments!.baseAddress!
      // Positions 0..<total number the trainable elements across the segments in order.
      parallelFor(total, grain: 1 << 16) { range in
        var position = 0
        for segment in segments {
          let length = segment.end - segment.start
          defer { position += length }
          let lower = Swift.max(range.lowerBound, position)
          let upper = Swift.min(range.upperBound, position + length)
          if lower >= upper { continue }
          let first = segment.start + lower - position
          constants.apply(
            p: p + first, g: g + first, m: m + first, v: v + first, count: upper - lower,
            stepSize: segment.stepSize, decayFactor: segment.decayFactor)
        }
      }
    }
  }

  /// `<parameter>.exp_avg`, `<parameter>.exp_avg_sq` (PyTorch's names) and `step`.
  public func stateEntries(for arena: ParameterArena) -> [SafeTensorsEntry] {
    let (first, second) = arena.moments
    return ArenaBufferIO.entries(first, of: arena, suffix: "exp_avg")
      + ArenaBufferIO.entries(second, of: arena, suffix: "exp_avg_sq")
      + [ArenaBufferIO.stepEntry(step)]
  }

  /// Reads the moments and the step written by ``stateEntries(for:)``.
  public mutating func restoreState(from file: SafeTensorsFile, for arena: ParameterArena) throws {
    try ArenaBufferIO.checkOptimizer(file, name: name)
    let restoredStep = try ArenaBufferIO.loadStep(file)
    try arena.withUnsafeMutableBuffers(includingMoments: true) { buffers in
      try ArenaBufferIO.load(
        file, suffix: "exp_avg", into: buffers.firstMoments!, arena: arena)
      try ArenaBufferIO.load(
        file, suffix: "exp_avg_sq", into: buffers.secondMoments!, arena: arena)
    }
    step = restoredStep
  }
}

#if canImport(Glibc)
  import Glibc
#endif

/// A run of arena elements sharing one step size and decay.
private struct AdamWSegment {
  var start: Int
  var end: Int
  var stepSize: Float
  /// `1 − lr·decay`, or `nil` when the run does not decay.
  var decayFactor: Float?
}

/// The per-step constants of AdamW and its element update.
private struct AdamWConstants {
  let beta1: Float
  let beta2: Float
  let epsilon: Float
  let correction2: Float

  /// Updates `count` elements: `p ← p·decay; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g·g;
  /// p ← p − step · m / (√v / c₂ + ε)` (MiniTensor's AdamW kernel: no fused multiply-add, so
  /// every element gets the same bits on every instruction set and thread count).
  @inline(__always)
  func apply(
    p: UnsafeMutablePointer<Float>, g: UnsafePointer<Float>, m: UnsafeMutablePointer<Float>,
    v: UnsafeMutablePointer<Float>, count: Int, stepSize: Float, decayFactor: Float?
  ) {
    Kernels.adamWUpdate(
      p: p, g: g, m: m, v: v, count: count, beta1: beta1, beta2: beta2, epsilon: epsilon,
      correction2: correction2, stepSize: stepSize, decayFactor: decayFactor)
  }
}
