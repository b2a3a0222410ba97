extension Tensor {
  /// The same elements with a new shape; one dimension may be `-1` (inferred).
  /// Shares storage when the layout allows, otherwise copies.
  public func reshaped(_ newShape: [Int]) -> Tensor {
    var resolved = newShape
    if let inferred = newShape.firstIndex(of: -1) {
      let known = newShape.enumerated().reduce(1) { $1.offset == inferred ? $0 : $0 * $1.element }
      precondition(
        known > 0 && count % known == 0, "reshaped: cannot infer \(newShape) from \(shape)")
      resolved[inferred] = count / known
    }
    precondition(
      Tensor.checkedCount(resolved) == count,
      "reshaped: \(shape) has \(count) elements, not \(newShape)")
    if isContiguous {
      return Tensor(
        storage: storage, shape: resolved, strides: Tensor.contiguousStrides(resolved),
        offset: offset)
    }
    return contiguous().reshaped(resolved)
  }

  /// A view with dimensions `a` and `b` swapped (default: the last two).
  public func transposed(_ a: Int = -2, _ b: Int = -1) -> Tensor {
    let a = normalizedAxis(a)
    let b = normalizedAxis(b)
    var newShape = shape
    var newStrides = strides
    newShape.swapAt(a, b)
    newStrides.swapAt(a, b)
    return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
  }

  /// A view with dimensions reordered: result dimension `i` is dimension `order[i]` of this tensor.
  public func permuted(_ order: [Int]) -> Tensor {
    precondition(
      order.count == rank && Set(order) == Set(0..<rank), "permuted: \(order) for shape \(shape)")
    return Tensor(
      storage: storage, shape: order.map { shape[$0] }, strides: order.map { strides[$0] },
      offset: offset)
  }

  /// A view of `range` along `axis`.
  public func sliced(_ range: Range<Int>, axis: Int = 0) -> Tensor {
    let axis = normalizedAxis(axis)
    precondition(
      range.lowerBound >= 0 && range.upperBound <= shape[axis],
      "sliced: \(range) out of bounds for axis \(axis) of \(shape)")
    var newShape = shape
    newShape[axis] = range.count
    return Tensor(
      storage: storage, shape: newShape, strides: strides,
      offset: offset + range.lowerBound * strides[axis])
  }

  /// The sub-tensor at `index` along the first axis (rank decreases by one).
  public subscript(row index: Int) -> Tensor {
    precondition(rank >= 1 && index >= 0 && index < shape[0], "row \(index) of \(shape)")
    return Tensor(
      storage: storage, shape: Array(shape.dropFirst()), strides: Array(strides.dropFirst()),
      offset: offset + index * strides[0])
  }

  /// A view with a size-1 dimension inserted at `axis`.
  public func expandingDimension(at axis: Int) -> Tensor {
    let axis = axis < 0 ? axis + rank + 1 : axis
    precondition(axis >= 0 && axis <= rank, "expandingDimension: axis \(axis) for \(shape)")
    var newShape = shape
    var newStrides = strides
    newShape.insert(1, at: axis)
    newStrides.insert(axis < rank ? strides[axis] * shape[axis] : 1, at: axis)
    return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
  }

  /// A view broadcast to `newShape` (size-1 or missing leading dimensions get stride 0).
  public func broadcast(to newShape: [Int]) -> Tensor {
    precondition(newShape.count >= rank, "broadcast: \(shape) to \(newShape)")
    let lead = newShape.count - rank
    var newStrides = [Int](repeating: 0, count: newShape.count)
    for d in 0..<rank {
      if shape[d] == newShape[lead + d] {
        newStrides[lead + d] = strides[d]
      } else {
        precondition(shape[d] == 1, "broadcast: \(shape) to \(newShape)")
      }
    }
    return Tensor(storage: storage, shape: newShape, strides: newStrides, offset: offset)
  }

  /// A dense row-major tensor with these elements (self when already dense).
  public func contiguous() -> Tensor {
    isContiguous ? self : contiguousCopy()
  }

  /// A new dense row-major copy that shares nothing with this tensor.
  public func contiguousCopy() -> Tensor {
    let result = Tensor(uninitializedShape: shape)
    let destination = result.storage.base
    if isContiguous {
      destination.update(from: storage.base + offset, count: count)
      return result
    }
    var written = 0
    forEachRow { source, rowCount, rowStride in
      if rowStride == 1 {
        (destination + written).update(from: source, count: rowCount)
      } else {
        for i in 0..<rowCount { destination[written + i] = source[i * rowStride] }
      }
      written += rowCount
    }
    return result
  }

  /// Calls `body` for each innermost row in row-major order with its start, length and stride.
  func forEachRow(_ body: (UnsafePointer<Float>, Int, Int) -> Void) {
    if count == 0 { return }
    if rank == 0 {
      body(storage.base + offset, 1, 1)
      return
    }
    let inner = shape[rank - 1]
    let innerStride = strides[rank - 1]
    let rows = count / inner
    var index = [Int](repeating: 0, count: rank - 1)
    var position = offset
    for _ in 0..<rows {
      body(storage.base + position, inner, innerStride)
      var d = rank - 2
      while d >= 0 {
        index[d] += 1
        position += strides[d]
        if index[d] < shape[d] { break }
        position -= strides[d] * shape[d]
        index[d] = 0
        d -= 1
      }
    }
  }

  /// `axis` with negative values counted from the end.
  public func normalizedAxis(_ axis: Int) -> Int {
    let resolved = axis < 0 ? axis + rank : axis
    precondition(resolved >= 0 && resolved < rank, "axis \(axis) out of range for shape \(shape)")
    return resolved
  }
}
