import MiniTensor

/// How a parameter's values are set when its arena is built.
public enum ParameterInitializer: Sendable, Equatable {
  /// All zeros.
  case zeros
  /// All ones (e.g. norm weights).
  case ones
  /// Every element `value`.
  case constant(Float)
  /// Normal samples.
  case normal(mean: Float = 0, standardDeviation: Float)
  /// Uniform samples in the range.
  case uniform(Range<Float>)
}

/// A trainable tensor living in a ``ParameterArena``: its value and gradient are zero-copy views
/// of the arena's contiguous buffers.
///
/// Declared with ``ParameterArena/Builder/declare(_:shape:initializer:weightDecay:)``; usable once
/// the arena is built. A parameter enters a forward pass through ``variable(on:)``.
public final class Parameter {
  /// Stable name (for a Llama, the Hugging Face tensor name such as
  /// `model.layers.0.self_attn.q_proj.weight`).
  public let name: String
  /// Shape of the value.
  public let shape: [Int]
  /// Number of elements.
  public let count: Int
  /// Position of the first element in the arena's buffers.
  public let offset: Int
  /// Whether decoupled weight decay applies (by default: matrices and higher, not norms/biases).
  public let weightDecay: Bool
  /// How the value is set when the arena is built.
  public let initializer: ParameterInitializer
  /// When false, ``variable(on:)`` returns an untracked constant (a frozen parameter).
  public var requiresGradient = true

  /// The arena's buffers, bound when the arena is built.
  var storage: ArenaStorage?

  init(
    name: String, shape: [Int], offset: Int, weightDecay: Bool, initializer: ParameterInitializer
  ) {
    self.name = name
    self.shape = shape
    self.count = shape.reduce(1, *)
    self.offset = offset
    self.weightDecay = weightDecay
    self.initializer = initializer
  }

  var boundStorage: ArenaStorage {
    guard let storage else {
      preconditionFailure("Parameter \(name): its ParameterArena.Builder was never built")
    }
    return storage
  }

  /// Elements `offset ..< offset + count` of the arena's buffers.
  var range: Range<Int> { offset..<(offset + count) }

  /// The value: a view of the arena's value buffer (no copy). It sees later writes through the
  /// arena (optimizer steps, ``assign(_:)``, loading); mutating the returned tensor copies it.
  public var value: Tensor { boundStorage.values.sliced(range).reshaped(shape) }

  /// The gradient: a view of the arena's gradient buffer (allocated, zeroed, on first use).
  public var gradient: Tensor { boundStorage.gradientBuffer.sliced(range).reshaped(shape) }

  /// Copies `tensor` into this parameter's slice of the arena.
  /// - Precondition: `tensor.shape == shape`.
  public func assign(_ tensor: Tensor) {
    precondition(tensor.shape == shape, "Parameter \(name): assign \(tensor.shape) to \(shape)")
    tensor.withUnsafeBufferPointer { source in
      boundStorage.values.withUnsafeSharedMutableBufferPointer { values in
        for i in 0..<count { values[offset + i] = source[i] }
      }
    }
  }

  /// This parameter as a variable: tracked on `tape` (gradients accumulate into the arena) or,
  /// when `tape` is `nil` or ``requiresGradient`` is false, an untracked constant.
  public func variable(on tape: Tape?) -> Variable {
    guard let tape, requiresGradient else { return Variable(value) }
    return tape.variable(parameter: self)
  }

  /// Allocates the arena's gradient buffer if needed.
  func prepareGradient() { _ = boundStorage.gradientBuffer }

  /// Calls `body` with this parameter's slice of the arena's gradient buffer.
  func withUnsafeMutableGradient<R>(_ body: (UnsafeMutableBufferPointer<Float>) -> R) -> R {
    boundStorage.gradientBuffer.withUnsafeSharedMutableBufferPointer { all in
      body(UnsafeMutableBufferPointer(rebasing: all[range]))
    }
  }
}

extension Parameter: CustomStringConvertible {
  /// Name and shape, e.g. `model.norm.weight [512]`.
  public var description: String { "\(name) \(shape)" }
}
