import MiniAutograd

extension Llama {
  /// A weight declared after the decoder's in the same arena, for a task head such as a reward
  /// model's `score.weight`; read it back with `arena.parameter(named:)`.
  public struct AdditionalParameter: Sendable {
    /// Unique name (e.g. `score.weight`).
    public var name: String
    /// Shape (`[out, in]` for a linear layer).
    public var shape: [Int]
    /// How its value is set.
    public var initializer: ParameterInitializer

    /// A declaration.
    public init(name: String, shape: [Int], initializer: ParameterInitializer) {
      self.name = name
      self.shape = shape
      self.initializer = initializer
    }
  }
}
