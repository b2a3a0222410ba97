import MiniTensor

/// An eager gradient tape: every operation on tracked ``Variable``s computes its value at once
/// and records one backward closure; ``backward(from:seed:)`` runs them in reverse.
///
/// A tape serves one forward/backward pass and is owned by one task. Gradient buffers of
/// intermediate results are allocated when the first gradient reaches them and released as soon
/// as their node's backward closure has consumed them; each closure (with the activations it
/// saved) is released right after it runs. Gradients of ``Parameter``s go straight into their
/// ``ParameterArena``'s gradient buffer; gradients of leaves made by ``variable(_:)`` are kept and
/// read with ``gradient(of:)``.
public final class Tape {
  /// Given the gradient of a node's output (contiguous, the output's shape), adds the gradients
  /// of its inputs. Closures take the tape as an argument and never capture a `Variable`, so the
  /// tape does not retain itself.
  package typealias Backward = (Tape, Tensor) -> Void

  enum Role {
    /// The output of a recorded operation: its gradient is freed once consumed.
    case intermediate
    /// A value made by `variable(_:)`: its gradient is kept for `gradient(of:)`.
    case leaf
    /// A parameter: its gradient accumulates into the arena.
    case parameter(Parameter)
  }

  var roles: [Role] = []
  var shapes: [[Int]] = []
  var backwards: [Backward?] = []
  var gradients: [Tensor?] = []
  private var finished = false

  /// Intermediate gradient buffers alive right now.
  public private(set) var liveGradientBufferCount = 0
  /// The most intermediate gradient buffers alive at once during this tape's backward pass.
  public private(set) var peakGradientBufferCount = 0
  /// The most bytes held by intermediate gradient buffers at once.
  public private(set) var peakGradientByteCount = 0
  private var liveGradientByteCount = 0

  /// An empty tape.
  public init() {}

  /// Number of variables (leaves, parameters and recorded operations) on this tape.
  public var variableCount: Int { roles.count }

  /// A tracked leaf holding `value`; after ``backward(from:seed:)`` its gradient is
  /// ``gradient(of:)``.
  public func variable(_ value: Tensor) -> Variable {
    append(value.shape, role: .leaf, backward: nil)
    return Variable(value: value, tape: self, slot: roles.count - 1)
  }

  /// The variable of a parameter on this tape; gradients flowing to it are added to the
  /// parameter's slice of the arena's gradient buffer.
  func variable(parameter: Parameter) -> Variable {
    let value = parameter.value
    parameter.prepareGradient()
    append(value.shape, role: .parameter(parameter), backward: nil)
    return Variable(value: value, tape: self, slot: roles.count - 1)
  }

  /// Records an operation's output and the closure that back-propagates through it.
  package func record(_ value: Tensor, backward: @escaping Backward) -> Variable {
    precondition(!finished, "Tape: recording after backward; use a new tape for each pass")
    append(value.shape, role: .intermediate, backward: backward)
    return Variable(value: value, tape: self, slot: roles.count - 1)
  }

  private func append(_ shape: [Int], role: Role, backward: Backward?) {
    roles.append(role)
    shapes.append(shape)
    backwards.append(backward)
    gradients.append(nil)
  }

  /// Back-propagates from `output`, seeding its gradient with `seed` (ones when `nil`, which
  /// requires a one-element output such as a loss).
  ///
  /// Runs each recorded closure once, newest first, then releases every closure and
  /// intermediate gradient. A tape runs backward once.
  public func backward(from output: Variable, seed: Tensor? = nil) {
    precondition(output.tape === self, "backward: the output is not recorded on this tape")
    precondition(!finished, "backward: this tape already ran backward")
    precondition(
      seed != nil || output.count == 1,
      "backward: an implicit seed needs a one-element output, got \(output.shape)")
    let seed = seed ?? Tensor(repeating: 1, shape: output.shape)
    precondition(
      seed.shape == output.shape, "backward: seed \(seed.shape) for output \(output.shape)")
    finished = true
    accumulate(seed, into: output.slot)
    for slot in stride(from: output.slot, through: 0, by: -1) {
      guard let backward = backwards[slot] else { continue }
      backwards[slot] = nil
      guard let gradient = takeGradient(slot) else { continue }
      backward(self, gradient.contiguous())
    }
    backwards.removeAll()
    for slot in gradients.indices {
      if case .intermediate = roles[slot] { _ = takeGradient(slot) }
    }
  }

  /// The gradient of a leaf made by ``variable(_:)`` after ``backward(from:seed:)``, or `nil`
  /// when no gradient reached it. For parameters read ``Parameter/gradient``.
  public func gradient(of variable: Variable) -> Tensor? {
    guard variable.tape === self else { return nil }
    return gradients[variable.slot]
  }

  // MARK: Gradient plumbing for backward closures

  /// Adds `gradient` (same element count as the variable in `slot`) to the slot's gradient.
  /// A first gradient is stored without copying (copy-on-write makes a later addition safe).
  func accumulate(_ gradient: Tensor, into slot: Int) {
    let shape = shapes[slot]
    precondition(
      gradient.count == Self.count(shape),
      "Tape: gradient \(gradient.shape) for a variable of shape \(shape)")
    if case .parameter(let parameter) = roles[slot] {
      gradient.withUnsafeBufferPointer { source in
        parameter.withUnsafeMutableGradient { target in
          for i in 0..<target.count { target[i] += source[i] }
        }
      }
      return
    }
    let gradient = gradient.shape == shape ? gradient : gradient.reshaped(shape)
    if var existing = gradients[slot] {
      gradients[slot] = nil
      existing += gradient
      gradients[slot] = existing
    } else {
      gradients[slot] = gradient.contiguous()
      noteAllocation(slot)
    }
  }

  /// Calls `body` with a writable buffer for the gradient of `slot`. When `accumulate` is true
  /// the buffer already holds gradient and `body` must add to it; otherwise it is fresh,
  /// uninitialised memory that `body` must overwrite completely.
  func withGradientBuffer(
    of slot: Int, _ body: (UnsafeMutableBufferPointer<Float>, _ accumulate: Bool) -> Void
  ) {
    if case .parameter(let parameter) = roles[slot] {
      parameter.withUnsafeMutableGradient { body($0, true) }
      return
    }
    if var existing = gradients[slot] {
      gradients[slot] = nil
      existing.withUnsafeMutableBufferPointer { body($0, true) }
      gradients[slot] = existing
    } else {
      // Built before it is stored, so `body` may itself use other gradient buffers.
      let fresh = Tensor(unsafeUninitializedShape: shapes[slot]) { body($0, false) }
      gradients[slot] = fresh
      noteAllocation(slot)
    }
  }

  private func takeGradient(_ slot: Int) -> Tensor? {
    guard let gradient = gradients[slot] else { return nil }
    gradients[slot] = nil
    if case .intermediate = roles[slot] {
      liveGradientBufferCount -= 1
      liveGradientByteCount -= gradient.count * MemoryLayout<Float>.stride
    }
    return gradient
  }

  func noteAllocation(_ slot: Int) {
    guard case .intermediate = roles[slot] else { return }
    liveGradientBufferCount += 1
    liveGradientByteCount += Self.count(shapes[slot]) * MemoryLayout<Float>.stride
    peakGradientBufferCount = max(peakGradientBufferCount, liveGradientBufferCount)
    peakGradientByteCount = max(peakGradientByteCount, liveGradientByteCount)
  }

  static func count(_ shape: [Int]) -> Int { shape.reduce(1, *) }
}
