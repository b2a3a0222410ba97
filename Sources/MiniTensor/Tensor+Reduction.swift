extension Tensor {
  /// Views this tensor as `[outer, axisLength, inner]` around `axis` (contiguous).
  func axisLayout(_ axis: Int) -> (source: Tensor, outer: Int, length: Int, inner: Int) {
    let axis = normalizedAxis(axis)
    let outer = shape[..<axis].reduce(1, *)
    let inner = shape[(axis + 1)...].reduce(1, *)
    return (contiguous(), outer, shape[axis], inner)
  }

  func reducedShape(_ axis: Int, keepingDimension: Bool) -> [Int] {
    let axis = normalizedAxis(axis)
    var result = shape
    if keepingDimension { result[axis] = 1 } else { result.remove(at: axis) }
    return result
  }

  /// Applies a reduction along `axis`: `body(start, length, stride)` returns one value.
  func reduce(
    axis: Int, keepingDimension: Bool,
    _ body: (UnsafePointer<Float>, Int, Int) -> Float
  ) -> Tensor {
    let (source, outer, length, inner) = axisLayout(axis)
    let result = Tensor(uninitializedShape: reducedShape(axis, keepingDimension: keepingDimension))
    let out = result.storage.base
    let base = source.storage.base + source.offset
    for o in 0..<outer {
      for i in 0..<inner {
        out[o * inner + i] = body(base + o * length * inner + i, length, inner)
      }
    }
    return result
  }

  /// Sum of all elements, accumulated in `Double`.
  public func sum() -> Float {
    withUnsafeBufferPointer { buffer in Float(buffer.reduce(0.0) { $0 + Double($1) }) }
  }

  /// Mean of all elements.
  public func mean() -> Float { count == 0 ? .nan : sum() / Float(count) }

  /// Sum along `axis`.
  public func sum(axis: Int, keepingDimension: Bool = false) -> Tensor {
    reduce(axis: axis, keepingDimension: keepingDimension) { p, n, s in
      var total: Double = 0
      for j in 0..<n { total += Double(p[j * s]) }
      return Float(total)
    }
  }

  /// Mean along `axis`.
  public func mean(axis: Int, keepingDimension: Bool = false) -> Tensor {
    let length = Float(shape[normalizedAxis(axis)])
    return sum(axis: axis, keepingDimension: keepingDimension) / length
  }

  /// Maximum along `axis`.
  public func max(axis: Int, keepingDimension: Bool = false) -> Tensor {
    reduce(axis: axis, keepingDimension: keepingDimension) { p, n, s in
      var best = -Float.infinity
      for j in 0..<n { best = Swift.max(best, p[j * s]) }
      return best
    }
  }

  /// Maximum of all elements.
  public func max() -> Float {
    withUnsafeBufferPointer { $0.reduce(-Float.infinity) { Swift.max($0, $1) } }
  }

  /// Index of the largest element along `axis` (first on ties), as a tensor of the reduced
  /// shape holding the indices as whole numbers.
  public func argmax(axis: Int, keepingDimension: Bool = false) -> Tensor {
    reduce(axis: axis, keepingDimension: keepingDimension) { p, n, s in
      var best = -Float.infinity
      var index = 0
      for j in 0..<n where p[j * s] > best || (j == 0) {
        best = p[j * s]
        index = j
      }
      return Float(index)
    }
  }

  /// Index of the largest element in row-major order (first on ties).
  public func argmax() -> Int {
    withUnsafeBufferPointer { buffer in
      var best = 0
      for i in buffer.indices where buffer[i] > buffer[best] { best = i }
      return best
    }
  }
}
