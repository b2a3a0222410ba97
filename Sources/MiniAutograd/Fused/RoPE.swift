import MiniTensor

/// Rotary position embedding (Hugging Face `rotate_half` layout) as one tape node over the
/// fused kernels: token `t` of `x` is rotated for position `startPosition + t`.
/// - Parameters:
///   - x: `[batch, sequence, heads, headDim]` with `headDim == table.headDim`.
///   - table: cosine and sine tables covering positions `startPosition ..< startPosition + sequence`.
///   - startPosition: the position of the first token (the length of a cached prefix).
package func rope(_ x: Variable, table: RopeTable, startPosition: Int = 0) -> Variable {
  precondition(
    x.rank == 4 && x.shape[3] == table.headDim && startPosition >= 0
      && startPosition + x.shape[1] <= table.maxPositions,
    "rope: x \(x.shape) [batch, sequence, heads, headDim] from position \(startPosition) with a "
      + "table of headDim \(table.headDim) for \(table.maxPositions) positions")
  let (batch, sequence, heads, headDim) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
  let count = x.count
  let value = Tensor(unsafeUninitializedShape: x.shape) { y in
    x.value.withUnsafeBufferPointer { x in
      guard count > 0 else { return }
      y.baseAddress!.update(from: x.baseAddress!, count: count)
      Kernels.ropeForward(
        y.baseAddress!, table: table, batch: batch, sequence: sequence, heads: heads,
        headDim: headDim, startPosition: startPosition)
    }
  }
  guard let tape = x.tape else { return Variable(value) }
  let gx = x.slot
  return tape.record(value) { tape, dy in
    guard count > 0 else { return }
    dy.withUnsafeBufferPointer { dy in
      tape.storeGradient(of: gx) { dx in
        dx.baseAddress!.update(from: dy.baseAddress!, count: count)
        Kernels.ropeBackward(
          dx.baseAddress!, table: table, batch: batch, sequence: sequence, heads: heads,
          headDim: headDim, startPosition: startPosition)
      }
    }
  }
}

#if canImport(Glibc)
  import Glibc
#endif

extension Unfused {
  /// Rotary-embedding tables as Hugging Face computes them (in `Float`, no scaling):
  /// `inv_freq[i] = 1 / theta^(2i / headDimension)`, angle = position · inv_freq, and each table
  /// row repeats its `headDimension / 2` values twice (`cat(freqs, freqs)`).
  /// - Returns: `cos` and `sin`, each `[positions.count, headDimension]`.
  public static func ropeTables(
    headDimension: Int, positions: Range<Int>, theta: Float
  ) -> (cos: Tensor, sin: Tensor) {
    precondition(
      headDimension > 0 && headDimension % 2 == 0,
      "ropeTables: head dimension \(headDimension) must be even")
    let half = headDimension / 2
    let inverseFrequencies = (0..<half).map { i in
      1 / powf(theta, Float(2 * i) / Float(headDimension))
    }
    func table(_ f: (Float) -> Float) -> Tensor {
      Tensor(shape: [positions.count, headDimension]) { out in
        for (row, position) in positions.enumerated() {
          for i in 0..<half {
            let value = f(Float(position) * inverseFrequencies[i])
            out[row * headDimension + i] = value
            out[row * headDimension + half + i] = value
          }
        }
      }
    }
    return (table(cosf), table(sinf))
  }

  /// Rotary position embedding in Hugging Face's `rotate_half` layout:
  /// `x · cos + rotate_half(x) · sin` with `rotate_half([x₁, x₂]) = [−x₂, x₁]`.
  /// - Parameters:
  ///   - x: `[batch, sequence, heads, headDimension]`.
  ///   - cos: `[sequence, headDimension]`, the rows for the positions of `x`.
  ///   - sin: likewise.
  public static func rope(_ x: Variable, cos: Tensor, sin: Tensor) -> Variable {
    precondition(x.rank == 4, "rope: x must be [batch, sequence, heads, headDim], got \(x.shape)")
    let (sequence, headDimension) = (x.shape[1], x.shape[3])
    precondition(
      cos.shape == [sequence, headDimension] && sin.shape == cos.shape,
      "rope: tables \(cos.shape), \(sin.shape) for x \(x.shape)")
    let half = headDimension / 2
    let rotated = Variable.concatenate(
      [-x.sliced(half..<headDimension, axis: 3), x.sliced(0..<half, axis: 3)], axis: 3)
    let c = Variable(cos.reshaped([sequence, 1, headDimension]))
    let s = Variable(sin.reshaped([sequence, 1, headDimension]))
    return x * c + rotated * s
  }
}
