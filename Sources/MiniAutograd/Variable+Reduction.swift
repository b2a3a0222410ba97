import MiniTensor

// Sums and means. The backward broadcasts the gradient back over the reduced dimensions.

extension Variable {
  /// The sum of all elements, as a scalar (shape `[]`).
  public func sum() -> Variable {
    let value = Tensor(self.value.sum())
    guard let tape else { return Variable(value) }
    let (a, shape) = (slot, self.shape)
    return tape.record(value) { tape, dy in
      tape.accumulate(Tensor(repeating: dy.item, shape: shape), into: a)
    }
  }

  /// The mean of all elements, as a scalar (shape `[]`).
  public func mean() -> Variable {
    precondition(count > 0, "mean: empty tensor \(shape)")
    return sum().scaled(by: 1 / Float(count))
  }

  /// The sum along `axis`.
  public func sum(axis: Int, keepingDimension: Bool = false) -> Variable {
    let value = self.value.sum(axis: axis, keepingDimension: keepingDimension)
    guard let tape else { return Variable(value) }
    let (a, shape) = (slot, self.shape)
    var keptShape = shape
    keptShape[self.value.normalizedAxis(axis)] = 1
    return tape.record(value) { tape, dy in
      tape.accumulate(dy.reshaped(keptShape).broadcast(to: shape), into: a)
    }
  }

  /// The mean along `axis`.
  public func mean(axis: Int, keepingDimension: Bool = false) -> Variable {
    let length = shape[value.normalizedAxis(axis)]
    precondition(length > 0, "mean: empty axis \(axis) of \(shape)")
    return sum(axis: axis, keepingDimension: keepingDimension).scaled(by: 1 / Float(length))
  }
}
