extension Tensor {
  /// Joins tensors along `axis`; all other dimensions must match.
  public static func concatenate(_ tensors: [Tensor], axis: Int = 0) -> Tensor {
    precondition(!tensors.isEmpty, "concatenate: no tensors")
    let first = tensors[0]
    let axis = first.normalizedAxis(axis)
    var template = first.shape
    template[axis] = 0
    var shape = template
    for t in tensors {
      var other = t.shape
      precondition(other.count == first.rank, "concatenate: \(first.shape) and \(t.shape)")
      other[axis] = 0
      precondition(
        other == template, "concatenate: \(first.shape) and \(t.shape) along \(axis)")
      shape[axis] += t.shape[axis]
    }
    let result = Tensor(uninitializedShape: shape)
    let outer = shape[..<axis].reduce(1, *)
    let inner = shape[(axis + 1)...].reduce(1, *)
    let rowWidth = shape[axis] * inner
    var column = 0
    for t in tensors {
      let part = t.contiguous()
      let width = t.shape[axis] * inner
      let source = part.storage.base + part.offset
      for o in 0..<outer {
        (result.storage.base + o * rowWidth + column).update(from: source + o * width, count: width)
      }
      column += width
    }
    return result
  }

  /// Splits along `axis` into pieces of the given sizes (views, no copy).
  public func split(sizes: [Int], axis: Int = 0) -> [Tensor] {
    let axis = normalizedAxis(axis)
    precondition(sizes.reduce(0, +) == shape[axis], "split: \(sizes) along \(axis) of \(shape)")
    var start = 0
    return sizes.map { size in
      defer { start += size }
      return sliced(start..<(start + size), axis: axis)
    }
  }

  /// Rows of a `[rows, width]` table picked by `indices`: the embedding lookup.
  /// The result has shape `indexShape + [width]`.
  public func gatherRows(_ indices: [Int], indexShape: [Int]? = nil) -> Tensor {
    precondition(rank == 2, "gatherRows: table must be 2-D, got \(shape)")
    let rows = shape[0]
    let width = shape[1]
    let table = contiguous()
    let shape = (indexShape ?? [indices.count]) + [width]
    precondition(
      shape.dropLast().reduce(1, *) == indices.count,
      "gatherRows: index shape \(shape.dropLast()) for \(indices.count) indices")
    let result = Tensor(uninitializedShape: shape)
    let source = table.storage.base + table.offset
    for (i, row) in indices.enumerated() {
      precondition(row >= 0 && row < rows, "gatherRows: index \(row) out of range 0..<\(rows)")
      (result.storage.base + i * width).update(from: source + row * width, count: width)
    }
    return result
  }

  /// Adds row `i` of `source` (`[indices.count, width]`) into row `indices[i]` of this
  /// `[rows, width]` tensor: the embedding gradient. Repeated indices accumulate.
  public mutating func scatterAddRows(_ indices: [Int], from source: Tensor) {
    precondition(rank == 2, "scatterAddRows: target must be 2-D, got \(shape)")
    let width = shape[1]
    precondition(
      source.count == indices.count * width,
      "scatterAddRows: source \(source.shape) for \(indices.count) rows of width \(width)")
    let rows = shape[0]
    let input = source.contiguous()
    makeUniqueContiguous()
    let target = storage.base + offset
    let from = input.storage.base + input.offset
    for (i, row) in indices.enumerated() {
      precondition(row >= 0 && row < rows, "scatterAddRows: index \(row) out of range 0..<\(rows)")
      let destination = target + row * width
      let values = from + i * width
      for j in 0..<width { destination[j] += values[j] }
    }
  }
}
