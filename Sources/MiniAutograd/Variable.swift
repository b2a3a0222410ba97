import MiniTensor

/// A tensor value with, when tracked, an identity on a ``Tape``.
///
/// Operations on variables compute their value eagerly. When at least one input is tracked, the
/// result is tracked on the same tape and the operation's backward closure is recorded; when none
/// is (inference), nothing is recorded, so one forward serves training and generation.
public struct Variable {
  /// The value.
  public let value: Tensor
  /// The tape this variable is recorded on, or `nil` for an untracked constant.
  public let tape: Tape?
  /// Index on `tape` (meaningless for constants).
  let slot: Int

  init(value: Tensor, tape: Tape, slot: Int) {
    self.value = value
    self.tape = tape
    self.slot = slot
  }

  /// An untracked constant: no gradient flows to it.
  public init(_ value: Tensor) {
    self.value = value
    self.tape = nil
    self.slot = -1
  }

  /// Size of each dimension.
  public var shape: [Int] { value.shape }
  /// Number of dimensions.
  public var rank: Int { value.rank }
  /// Number of elements.
  public var count: Int { value.count }
  /// Whether gradients flow to this variable.
  public var isTracked: Bool { tape != nil }

  /// The same value, untracked: gradients stop here.
  public func detached() -> Variable { Variable(value) }

  /// The slot to send gradients to, or `nil` for constants. Backward closures capture this,
  /// never the variable itself (which would retain the tape).
  package var handle: Int? { tape == nil ? nil : slot }

  /// The tape shared by the tracked variables among `inputs`, or `nil` when none is tracked.
  static func commonTape(_ inputs: Variable...) -> Tape? {
    commonTape(inputs)
  }

  /// The tape shared by the tracked variables among `inputs`, or `nil` when none is tracked.
  static func commonTape(_ inputs: [Variable]) -> Tape? {
    var tape: Tape?
    for input in inputs {
      guard let other = input.tape else { continue }
      if let tape {
        precondition(tape === other, "Variable: inputs are recorded on different tapes")
      } else {
        tape = other
      }
    }
    return tape
  }
}

extension Variable: CustomStringConvertible {
  /// The value's description, marked when tracked.
  public var description: String { (isTracked ? "Variable(tracked) " : "Variable ") + "\(value)" }
}

extension Variable {
  /// A custom operation: `value` computed by the caller from `inputs`, and `backward`, which maps
  /// the gradient of `value` to one gradient per input (`nil` where none flows; each the shape
  /// of its input). Check it with ``GradientCheck``.
  ///
  /// `backward` must capture tensors, not variables: a captured tracked variable keeps its tape
  /// alive until backward runs.
  public static func operation(
    inputs: [Variable], value: Tensor,
    backward: @escaping (_ outputGradient: Tensor) -> [Tensor?]
  ) -> Variable {
    guard let tape = commonTape(inputs) else { return Variable(value) }
    let handles = inputs.map(\.handle)
    let shapes = inputs.map(\.shape)
    return tape.record(value) { tape, dy in
      let gradients = backward(dy)
      precondition(
        gradients.count == handles.count,
        "operation: backward returned \(gradients.count) gradients for \(handles.count) inputs")
      for (i, gradient) in gradients.enumerated() {
        guard let gradient, let handle = handles[i] else { continue }
        precondition(
          gradient.shape == shapes[i],
          "operation: gradient \(gradient.shape) for input \(i) of shape \(shapes[i])")
        tape.accumulate(gradient, into: handle)
      }
    }
  }
}
