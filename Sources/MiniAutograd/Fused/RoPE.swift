import MiniTensor

/// Rotary position embedding (Hugging Face `rotate_half` layout) as one tape node over the
/// fused kernels: token `t` of `x` is rotated for position `startPosition + t`.
/// - Parameters:
///   - x: `[batch, sequence, heads, headDim]` with `headDim == table.headDim`.
///   - table: cosine and sine tables covering positions `startPosition ..< startPosition + sequence`.
///   - startPosition: the position of the first token (the length of a cached prefix).
/// - Returns: `x`'s shape.
public func rope(_ x: Variable, table: RopeTable, startPosition: Int = 0) -> Variable {
  precondition(
    x.rank == 4 && x.shape[3] == table.headDim && startPosition >= 0
      && startPosition + x.shape[1] <= table.maxPositions,
    "rope: x \(x.shape) [batch, sequence, heads, headDim] from position \(startPosition) with a "
      + "table of headDim \(table.headDim) for \(table.maxPositions) positions")
  let (batch, sequence, heads, headDim) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let count = x.count
  let value = Tensor(unsafeUninitializedShape: x.shape) { y in
    guard count > 0 else { return }
    withUnsafePointers(x.value) { x in
      y.baseAddress!.update(from: x, count: count)
      Kernels.ropeForward(
        y.baseAddress!, table: table, batch: batch, sequence: sequence, heads: heads,
        headDim: headDim, startPosition: startPosition)
    }
  }
  guard let tape = x.tape else { return Variable(value) }
  let gx = x.slot
  return tape.record(value) { tape, dy in
    guard count > 0 else { return }
    withUnsafePointers(dy) { dy in
      tape.storeGradients(.overwrite(gx, count: count)) { dx in
        dx.update(from: dy, count: count)
        Kernels.ropeBackward(
          dx, table: table, batch: batch, sequence: sequence, heads: heads, headDim: headDim,
          startPosition: startPosition)
      }
    }
  }
}

#if canImport(Glibc)
  import Glibc
#endif

extension Unfused {
  /// Rotary-embedding tables as Hugging Face computes them (in `Float`, no scaling):
  /// `inv_freq[i] = 1 / theta^(2i / headDim)`, angle = position · inv_freq, and each table
  /// row repeats its `headDim / 2` values twice (`cat(freqs, freqs)`).
  /// - Returns: `cos` and `sin`, each `[positions.count, headDim]`.
  public static func ropeTables(
    headDim: Int, positions: Range<Int>, theta: Float
  ) -> (cos: Tensor, sin: Tensor) {
    precondition(
      headDim > 0 && headDim % 2 == 0,
      "ropeTables: head dimension \(headDim) must be even")
    let half = headDim / 2
    let inverseFrequencies = (0..<half).map { i in
      1 / powf(theta, Float(2 * i) / Float(headDim))
    }
    func table(_ f: (Float) -> Float) -> Tensor {
      Tensor(shape: [positions.count, headDim]) { out in
        for (row, position) in positions.enumerated() {
          for i in 0..<half {
            let value = f(Float(position) * inverseFrequencies[i])
            out[row * headDim + i] = value
            out[row * headDim + half + i] = value
          }
        }
      }
    }
    return (table(cosf), table(sinf))
  }

  /// Rotary position embedding in Hugging Face's `rotate_half` layout:
  /// `x · cos + rotate_half(x) · sin` with `rotate_half([x₁, x₂]) = [−x₂, x₁]`.
  /// - Parameters:
  ///   - x: `[batch, sequence, heads, headDim]`.
  ///   - cos: `[sequence, headDim]`, the rows for the positions of `x`.
  ///   - sin: likewise.
  public static func rope(_ x: Variable, cos: Tensor, sin: Tensor) -> Variable {
    precondition(x.rank == 4, "rope: x must be [batch, sequence, heads, headDim], got \(x.shape)")
    let (sequence, headDim) = (x.shape[1], x.shape[3])
    precondition(
      cos.shape == [sequence, headDim] && sin.shape == cos.shape,
      "rope: tables \(cos.shape), \(sin.shape) for x \(x.shape)")
    let half = headDim / 2
    let rotated = Variable.concatenate(
      [-x.sliced(half..<headDim, axis: 3), x.sliced(0..<half, axis: 3)], axis: 3)
    let c = Variable(cos.reshaped([sequence, 1, headDim]))
    let s = Variable(sin.reshaped([sequence, 1, headDim]))
    return x * c + rotated * s
  }
}
