import MiniTensor

/// Embedding lookup: row `ids[i]` of `table` (`[rows, width]`) for each id.
///
/// The result has shape `shape + [width]` (`shape` defaults to `[ids.count]`). The backward
/// scatter-adds each row's gradient into the table's gradient (for a parameter, straight into the
/// arena); repeated ids accumulate.
/// - Precondition: every id is in `0 ..< rows`.
public func embedding(_ table: Variable, ids: [Int32], shape: [Int]? = nil) -> Variable {
  precondition(table.rank == 2, "embedding: table must be [rows, width], got \(table.shape)")
  let (rows, width) = (table.shape[0], table.shape[1])
  let shape = shape ?? [ids.count]
  precondition(
    shape.reduce(1, *) == ids.count, "embedding: shape \(shape) for \(ids.count) ids")
  let value = Tensor(unsafeUninitializedShape: shape + [width]) { out in
    table.value.withUnsafeBufferPointer { source in
      for (i, id) in ids.enumerated() {
        precondition(id >= 0 && Int(id) < rows, "embedding: id \(id) out of range 0..<\(rows)")
        let row = Int(id) * width
        for j in 0..<width { out[i * width + j] = source[row + j] }
      }
    }
  }
  guard let tape = table.tape else { return Variable(value) }
  let a = table.slot
  return tape.record(value) { tape, dy in
    withUnsafePointers(dy) { dy in
      tape.storeGradients(.add(a, count: rows * width)) { dTable in
        for (i, id) in ids.enumerated() {
          let row = Int(id) * width
          for j in 0..<width { dTable[row + j] += dy[i * width + j] }
        }
      }
    }
  }
}
