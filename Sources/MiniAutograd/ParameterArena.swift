import MiniTensor

/// The flat buffers behind an arena, shared by the arena and its parameters (which never point
/// back at the arena, so nothing forms a cycle).
final class ArenaStorage {
  let count: Int
  let values: Tensor
  private(set) var gradients: Tensor?
  private(set) var firstMoments: Tensor?
  private(set) var secondMoments: Tensor?

  init(count: Int) {
    self.count = count
    values = Tensor.zeros([count])
  }

  var gradientBuffer: Tensor {
    if let gradients { return gradients }
    let buffer = Tensor.zeros([count])
    gradients = buffer
    return buffer
  }

  func allocateMoments() {
    if firstMoments == nil { firstMoments = Tensor.zeros([count]) }
    if secondMoments == nil { secondMoments = Tensor.zeros([count]) }
  }
}

/// Every parameter of a model in one set of contiguous `Float` buffers: values, gradients
/// (allocated on first use) and two optimizer moments (allocated on demand).
///
/// Parameters are declared on a ``Builder`` and laid out back to back in declaration order, so
/// zeroing the gradients is one `memset` and an optimizer is one loop over the whole arena. Each
/// ``Parameter``'s value and gradient are zero-copy views of these buffers.
///
/// ```swift
/// var builder = ParameterArena.Builder()
/// let weight = builder.declare("proj.weight", shape: [4, 8], initializer: .normal(standardDeviation: 0.02))
/// let arena = builder.build(seed: 1)
/// ```
public final class ParameterArena {
  /// The parameters in declaration (and memory) order.
  public let parameters: [Parameter]
  /// Total number of elements.
  public let count: Int
  let storage: ArenaStorage
  private let byName: [String: Parameter]

  init(parameters: [Parameter], count: Int) {
    self.parameters = parameters
    self.count = count
    storage = ArenaStorage(count: count)
    byName = Dictionary(uniqueKeysWithValues: parameters.map { ($0.name, $0) })
  }

  /// The parameter called `name`, if any.
  public func parameter(named name: String) -> Parameter? { byName[name] }

  /// All values as one flat view `[count]` (no copy).
  public var values: Tensor { storage.values }

  /// All gradients as one flat view `[count]` (no copy; allocated and zeroed on first use).
  public var gradients: Tensor { storage.gradientBuffer }

  /// Whether the gradient buffer exists yet.
  public var hasGradients: Bool { storage.gradients != nil }

  /// The optimizer's first and second moments as flat views `[count]`, allocated (zeroed) on
  /// first use.
  public var moments: (first: Tensor, second: Tensor) {
    storage.allocateMoments()
    guard let first = storage.firstMoments, let second = storage.secondMoments else {
      preconditionFailure("ParameterArena: moments were not allocated")
    }
    return (first, second)
  }

  /// Sets every gradient to zero (one `memset`).
  public func zeroGradients() {
    storage.gradientBuffer.withUnsafeSharedMutableBufferPointer { buffer in
      buffer.update(repeating: 0)
    }
  }

  /// Raw access to the arena for optimizers and collective operations (e.g. an allreduce of
  /// the gradients). Parameter `i` occupies elements `parameters[i].offset ..< offset + count`
  /// of each buffer.
  public struct Buffers {
    /// Parameter values.
    public var values: UnsafeMutableBufferPointer<Float>
    /// Gradients.
    public var gradients: UnsafeMutableBufferPointer<Float>
    /// First moments (e.g. AdamW's `m`), when requested.
    public var firstMoments: UnsafeMutableBufferPointer<Float>?
    /// Second moments (e.g. AdamW's `v`), when requested.
    public var secondMoments: UnsafeMutableBufferPointer<Float>?
  }

  /// Calls `body` with writable pointers to the arena's buffers; writes are seen by every
  /// parameter view. Gradients (and, with `includingMoments`, the moments) are allocated first.
  /// The pointers must not escape `body`.
  public func withUnsafeMutableBuffers<R>(
    includingMoments: Bool = false, _ body: (Buffers) throws -> R
  ) rethrows -> R {
    if includingMoments { storage.allocateMoments() }
    let first = storage.firstMoments
    let second = storage.secondMoments
    return try storage.values.withUnsafeSharedMutableBufferPointer { values in
      try storage.gradientBuffer.withUnsafeSharedMutableBufferPointer { gradients in
        try Self.withOptionalBuffer(includingMoments ? first : nil) { m in
          try Self.withOptionalBuffer(includingMoments ? second : nil) { v in
            try body(
              Buffers(values: values, gradients: gradients, firstMoments: m, secondMoments: v))
          }
        }
      }
    }
  }

  private static func withOptionalBuffer<R>(
    _ tensor: Tensor?, _ body: (UnsafeMutableBufferPointer<Float>?) throws -> R
  ) rethrows -> R {
    guard let tensor else { return try body(nil) }
    return try tensor.withUnsafeSharedMutableBufferPointer { try body($0) }
  }

  /// Copies tensors into the parameters of the same name (e.g. from a checkpoint).
  /// - Parameters:
  ///   - tensors: tensors by name.
  ///   - allowMissing: accept parameters with no tensor (they keep their values).
  ///   - allowUnexpected: accept tensors matching no parameter (they are ignored).
  /// - Throws: ``ParameterLoadError`` naming the first offending tensor, before anything is
  ///   copied.
  public func load(
    _ tensors: [String: Tensor], allowMissing: Bool = false, allowUnexpected: Bool = false
  ) throws(ParameterLoadError) {
    for parameter in parameters {
      guard let tensor = tensors[parameter.name] else {
        if allowMissing { continue }
        throw .missingTensor(name: parameter.name)
      }
      if tensor.shape != parameter.shape {
        throw .shapeMismatch(name: parameter.name, expected: parameter.shape, found: tensor.shape)
      }
    }
    if !allowUnexpected {
      if let extra = tensors.keys.sorted().first(where: { byName[$0] == nil }) {
        throw .unexpectedTensor(name: extra)
      }
    }
    for parameter in parameters {
      if let tensor = tensors[parameter.name] { parameter.assign(tensor) }
    }
  }

  /// Declares parameters, then allocates the arena and sets every value by its initializer.
  public struct Builder {
    /// The parameters declared so far, in order.
    public private(set) var parameters: [Parameter] = []
    /// Elements declared so far.
    public private(set) var count = 0
    private var names: Set<String> = []

    /// An empty builder.
    public init() {}

    /// Declares a parameter placed after the previous ones.
    /// - Parameters:
    ///   - name: unique, stable name (the Hugging Face name for a Llama).
    ///   - shape: shape of the value.
    ///   - initializer: how the value is set at ``build(using:)``.
    ///   - weightDecay: whether weight decay applies; by default when `shape` has two or more
    ///     dimensions.
    /// - Returns: the parameter, usable once the arena is built.
    public mutating func declare(
      _ name: String, shape: [Int], initializer: ParameterInitializer = .zeros,
      weightDecay: Bool? = nil
    ) -> Parameter {
      precondition(!names.contains(name), "ParameterArena: parameter \(name) declared twice")
      precondition(shape.allSatisfy { $0 >= 0 }, "ParameterArena: \(name) has shape \(shape)")
      names.insert(name)
      let parameter = Parameter(
        name: name, shape: shape, offset: count, weightDecay: weightDecay ?? (shape.count >= 2),
        initializer: initializer)
      parameters.append(parameter)
      count += parameter.count
      return parameter
    }

    /// Allocates the arena and initialises the parameters in declaration order from `rng`.
    public func build(using rng: inout PhiloxRNG) -> ParameterArena {
      let arena = ParameterArena(parameters: parameters, count: count)
      arena.values.withUnsafeSharedMutableBufferPointer { values in
        for parameter in parameters {
          precondition(
            parameter.storage == nil, "ParameterArena: \(parameter.name) is already built")
          parameter.storage = arena.storage
          let slice = UnsafeMutableBufferPointer(rebasing: values[parameter.range])
          switch parameter.initializer {
          case .zeros: slice.update(repeating: 0)
          case .ones: slice.update(repeating: 1)
          case .constant(let value): slice.update(repeating: value)
          case .normal(let mean, let standardDeviation):
            rng.fillNormal(slice, mean: mean, standardDeviation: standardDeviation)
          case .uniform(let range): rng.fillUniform(slice, in: range)
          }
        }
      }
      return arena
    }

    /// Allocates the arena and initialises the parameters from a generator seeded with `seed`.
    public func build(seed: UInt64 = 0) -> ParameterArena {
      var rng = PhiloxRNG(seed: seed)
      return build(using: &rng)
    }
  }
}

/// Why ``ParameterArena/load(_:allowMissing:allowUnexpected:)`` refused a set of tensors.
public enum ParameterLoadError: Error, Equatable, CustomStringConvertible {
  /// No tensor for this parameter.
  case missingTensor(name: String)
  /// A tensor matching no parameter.
  case unexpectedTensor(name: String)
  /// A tensor whose shape differs from the parameter's.
  case shapeMismatch(name: String, expected: [Int], found: [Int])

  /// One line naming the tensor.
  public var description: String {
    switch self {
    case .missingTensor(let name): "missing tensor \(name)"
    case .unexpectedTensor(let name): "unexpected tensor \(name) (no parameter has this name)"
    case .shapeMismatch(let name, let expected, let found):
      "tensor \(name) has shape \(found), expected \(expected)"
    }
  }
}
