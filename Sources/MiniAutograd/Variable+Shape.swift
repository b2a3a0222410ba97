import MiniTensor

// Views and layout changes. Forward values share storage where `Tensor` allows; each backward
// routes the gradient back to the input's layout.

extension Variable {
  /// The same elements with a new shape; one dimension may be `-1`.
  public func reshaped(_ newShape: [Int]) -> Variable {
    let value = self.value.reshaped(newShape)
    guard let tape else { return Variable(value) }
    let (a, shape) = (slot, self.shape)
    return tape.record(value) { tape, dy in tape.accumulate(dy.reshaped(shape), into: a) }
  }

  /// Dimensions `a` and `b` swapped (default: the last two).
  public func transposed(_ a: Int = -2, _ b: Int = -1) -> Variable {
    let value = self.value.transposed(a, b)
    guard let tape else { return Variable(value) }
    let input = slot
    return tape.record(value) { tape, dy in
      tape.accumulate(dy.transposed(a, b).contiguous(), into: input)
    }
  }

  /// Dimensions reordered: result dimension `i` is dimension `order[i]`.
  public func permuted(_ order: [Int]) -> Variable {
    let value = self.value.permuted(order)
    guard let tape else { return Variable(value) }
    let a = slot
    var inverse = [Int](repeating: 0, count: order.count)
    for (i, d) in order.enumerated() { inverse[d] = i }
    return tape.record(value) { tape, dy in
      tape.accumulate(dy.permuted(inverse).contiguous(), into: a)
    }
  }

  /// A size-1 dimension inserted at `axis`.
  public func expandingDimension(at axis: Int) -> Variable {
    let axis = axis < 0 ? axis + rank + 1 : axis
    var newShape = shape
    newShape.insert(1, at: axis)
    return reshaped(newShape)
  }

  /// Broadcast to `newShape` (size-1 or missing leading dimensions repeat); the backward sums
  /// over the repeated dimensions.
  public func broadcast(to newShape: [Int]) -> Variable {
    let value = self.value.broadcast(to: newShape)
    guard let tape else { return Variable(value) }
    let (a, shape) = (slot, self.shape)
    return tape.record(value) { tape, dy in tape.accumulate(dy.unbroadcasted(to: shape), into: a) }
  }

  /// The elements in `range` along `axis`.
  public func sliced(_ range: Range<Int>, axis: Int = 0) -> Variable {
    let value = self.value.sliced(range, axis: axis)
    guard let tape else { return Variable(value) }
    let (a, count) = (slot, self.count)
    let axis = self.value.normalizedAxis(axis)
    let outer = shape[..<axis].reduce(1, *)
    let inner = shape[(axis + 1)...].reduce(1, *)
    let fullWidth = shape[axis] * inner
    let start = range.lowerBound * inner
    let width = range.count * inner
    return tape.record(value) { tape, dy in
      withUnsafePointers(dy) { dy in
        tape.storeGradients(.add(a, count: count)) { dx in
          for o in 0..<outer {
            for j in 0..<width { dx[o * fullWidth + start + j] += dy[o * width + j] }
          }
        }
      }
    }
  }

  /// Joins variables along `axis`; all other dimensions must match.
  public static func concatenate(_ variables: [Variable], axis: Int = 0) -> Variable {
    precondition(!variables.isEmpty, "concatenate: no variables")
    let axis = variables[0].value.normalizedAxis(axis)
    let value = Tensor.concatenate(variables.map(\.value), axis: axis)
    guard let tape = commonTape(variables) else { return Variable(value) }
    let parts = variables.map { ($0.handle, $0.shape[axis]) }
    return tape.record(value) { tape, dy in
      var start = 0
      for (handle, size) in parts {
        if let handle {
          tape.accumulate(dy.sliced(start..<(start + size), axis: axis).contiguous(), into: handle)
        }
        start += size
      }
    }
  }

  /// Splits along `axis` into pieces of the given sizes.
  public func split(sizes: [Int], axis: Int = 0) -> [Variable] {
    precondition(
      sizes.reduce(0, +) == shape[value.normalizedAxis(axis)],
      "split: \(sizes) along \(axis) of \(shape)")
    var start = 0
    return sizes.map { size in
      defer { start += size }
      return sliced(start..<(start + size), axis: axis)
    }
  }
}
