import MiniAutograd
import MiniTensor

/// An update rule over a whole ``ParameterArena`` whose state a checkpoint saves and restores
/// exactly.
///
/// Optimizers keep their per-element state in the arena's moment buffers (one contiguous buffer
/// each), so one update is one pass over the arena. Parameters whose `requiresGradient` is false
/// are left untouched.
public protocol Optimizer {
  /// Base learning rate of the next update; a ``LearningRateSchedule`` sets it before each step.
  var learningRate: Float { get set }
  /// Updates applied so far.
  var step: Int { get }
  /// A short name stored in checkpoints (`adamw`, `sgd`).
  var name: String { get }
  /// Applies one update to every trainable parameter of `arena` from its gradients.
  mutating func update(_ arena: ParameterArena)
  /// The state to checkpoint (per-parameter buffers and the step), as safetensors entries.
  func stateEntries(for arena: ParameterArena) -> [SafeTensorsEntry]
  /// Restores the state written by ``stateEntries(for:)``.
  /// - Throws: ``CheckpointError`` naming the file and the missing or malformed tensor.
  mutating func restoreState(from file: SafeTensorsFile, for arena: ParameterArena) throws
}

/// A subset of parameters with its own weight decay and learning-rate multiplier, as a PyTorch
/// parameter group (`{"params": …, "weight_decay": …, "lr": …}`).
public struct ParameterGroup: Sendable, Codable, Equatable {
  /// Names of the parameters in the group.
  public var parameterNames: Set<String>
  /// Weight decay for the group (`nil`: the optimizer's rule).
  public var weightDecay: Float?
  /// The group's learning rate as a multiple of the optimizer's (a schedule scales both alike).
  public var learningRateScale: Float

  /// A group of `parameterNames`.
  public init(parameterNames: Set<String>, weightDecay: Float? = nil, learningRateScale: Float = 1)
  {
    self.parameterNames = parameterNames
    self.weightDecay = weightDecay
    self.learningRateScale = learningRateScale
  }

  enum CodingKeys: String, CodingKey {
    case parameterNames = "parameter_names"
    case weightDecay = "weight_decay"
    case learningRateScale = "learning_rate_scale"
  }
}

extension [ParameterGroup] {
  /// The group holding `name`, if any (the first one when several do).
  func group(of name: String) -> ParameterGroup? {
    first { $0.parameterNames.contains(name) }
  }
}

/// The largest step count a checkpoint may hold (2⁴⁸: far beyond any run, far from overflow).
let maximumStoredStep = 1 << 48

/// Writing and reading per-parameter slices of an arena buffer (optimizer moments).
enum ArenaBufferIO {
  /// One entry per parameter, named `<parameter>.<suffix>`: views of `buffer`.
  static func entries(_ buffer: Tensor, of arena: ParameterArena, suffix: String)
    -> [SafeTensorsEntry]
  {
    arena.parameters.map { parameter in
      let slice = buffer.sliced(parameter.offset..<(parameter.offset + parameter.count))
      return SafeTensorsEntry("\(parameter.name).\(suffix)", slice.reshaped(parameter.shape))
    }
  }

  /// Copies each `<parameter>.<suffix>` tensor of `file` into `buffer`.
  static func load(
    _ file: SafeTensorsFile, suffix: String, into buffer: UnsafeMutableBufferPointer<Float>,
    arena: ParameterArena
  ) throws {
    for parameter in arena.parameters {
      let name = "\(parameter.name).\(suffix)"
      guard let info = file.info(named: name) else {
        throw CheckpointError(path: file.path, "tensor '\(name)' is missing")
      }
      guard info.shape == parameter.shape, info.dtype == .f32 else {
        throw CheckpointError(
          path: file.path,
          "tensor '\(name)' is \(info.dtype) \(info.shape), expected F32 \(parameter.shape)")
      }
      let tensor = try file.tensor(named: name)
      tensor.withUnsafeBufferPointer { source in
        for i in 0..<parameter.count { buffer[parameter.offset + i] = source[i] }
      }
    }
  }

  /// The step counter stored as a one-element `I64` tensor named `step`.
  static func stepEntry(_ step: Int) -> SafeTensorsEntry {
    SafeTensorsEntry("step", int64: [Int64(step)], shape: [])
  }

  /// Reads the `step` tensor.
  static func loadStep(_ file: SafeTensorsFile) throws -> Int {
    guard file.contains("step") else {
      throw CheckpointError(path: file.path, "tensor 'step' is missing")
    }
    let values = try file.integers(named: "step")
    guard values.count == 1, (0...Int64(maximumStoredStep)).contains(values[0]) else {
      throw CheckpointError(
        path: file.path,
        "tensor 'step' must hold one count in 0...\(maximumStoredStep), got \(values)")
    }
    return Int(values[0])
  }

  /// Checks that the file was written by the optimizer called `name`.
  static func checkOptimizer(_ file: SafeTensorsFile, name: String) throws {
    let stored = file.metadata["optimizer"]
    guard stored == name else {
      throw CheckpointError(
        path: file.path,
        "holds the state of optimizer '\(stored ?? "?")', but this run uses '\(name)'")
    }
  }
}
