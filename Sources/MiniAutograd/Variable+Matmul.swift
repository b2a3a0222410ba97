import MiniTensor

// Matrix products. Every product, forward and backward, is one `sgemm` with transpose flags;
// batch and sequence dimensions fold into M, and gradients are accumulated with beta = 1 straight
// into their buffer (for parameters, into the arena).

/// Matrix product of the last two dimensions, batched (with broadcasting) over the leading ones.
///
/// `a` is `[…, m, k]` (or `[…, k, m]` with `transposeA`), `b` is `[…, k, n]` (or `[…, n, k]` with
/// `transposeB`). When `b` is a matrix the batch dimensions of `a` fold into `m`.
public func matmul(
  _ a: Variable, _ b: Variable, transposeA: Bool = false, transposeB: Bool = false
) -> Variable {
  precondition(a.rank >= 2 && b.rank >= 2, "matmul: \(a.shape) × \(b.shape) needs matrices")
  let value = MiniTensor.matmul(a.value, b.value, transposeA: transposeA, transposeB: transposeB)
  guard let tape = Variable.commonTape(a, b) else { return Variable(value) }
  let (ga, gb) = (a.handle, b.handle)
  let (x, y) = (a.value, b.value)
  let foldable = y.rank == 2 && (x.rank == 2 || !transposeA)
  return tape.record(value) { tape, dz in
    if foldable {
      // [batch…, m, k] · [k, n]: one GEMM per gradient over the folded batch.
      let n = dz.shape[dz.rank - 1]
      let dz2 = dz.reshaped([-1, n])
      let x2 = x.reshaped([-1, x.shape[x.rank - 1]])
      if let ga {
        if transposeA {
          tape.accumulateProduct(into: ga, y, transposeA: transposeB, dz2, transposeB: true)
        } else {
          tape.accumulateProduct(into: ga, dz2, transposeA: false, y, transposeB: !transposeB)
        }
      }
      if let gb {
        if transposeB {
          tape.accumulateProduct(into: gb, dz2, transposeA: true, x2, transposeB: transposeA)
        } else {
          tape.accumulateProduct(into: gb, x2, transposeA: !transposeA, dz2, transposeB: false)
        }
      }
      return
    }
    if let ga {
      let da =
        transposeA
        ? MiniTensor.matmul(y, dz, transposeA: transposeB, transposeB: true)
        : MiniTensor.matmul(dz, y, transposeB: !transposeB)
      tape.accumulate(da.unbroadcasted(to: x.shape), into: ga)
    }
    if let gb {
      let db =
        transposeB
        ? MiniTensor.matmul(dz, x, transposeA: true, transposeB: transposeA)
        : MiniTensor.matmul(x, dz, transposeA: !transposeA)
      tape.accumulate(db.unbroadcasted(to: y.shape), into: gb)
    }
  }
}

/// A linear layer without copies: `input · weightᵀ (+ bias)` with `weight` stored `[out, in]` as
/// in PyTorch, `input` `[…, in]` (all leading dimensions fold into one GEMM), result `[…, out]`.
public func linear(_ input: Variable, _ weight: Variable, bias: Variable? = nil) -> Variable {
  precondition(
    weight.rank == 2 && input.rank >= 1 && input.shape[input.rank - 1] == weight.shape[1],
    "linear: input \(input.shape) with weight \(weight.shape) ([out, in])")
  let (outFeatures, inFeatures) = (weight.shape[0], weight.shape[1])
  if let bias {
    precondition(bias.shape == [outFeatures], "linear: bias \(bias.shape) for \(weight.shape)")
  }
  let rows = input.count / Swift.max(inFeatures, 1)
  let x = input.value
  let w = weight.value
  let outputShape = Array(input.shape.dropLast()) + [outFeatures]
  let value = Tensor(unsafeUninitializedShape: outputShape) { y in
    guard let yBase = y.baseAddress else { return }
    withUnsafePointers(x, w) { x, w in
      sgemm(
        transposeA: false, transposeB: true, m: rows, n: outFeatures, k: inFeatures, a: x,
        lda: Swift.max(inFeatures, 1), b: w, ldb: Swift.max(inFeatures, 1), c: yBase,
        ldc: outFeatures)
    }
    bias?.value.withUnsafeBufferPointer { b in
      for r in 0..<rows {
        for j in 0..<outFeatures { y[r * outFeatures + j] += b[j] }
      }
    }
  }
  let biasInput = bias ?? Variable(Tensor.zeros([0]))
  guard let tape = Variable.commonTape(input, weight, biasInput) else { return Variable(value) }
  let (gx, gw, gb) = (input.handle, weight.handle, bias?.handle)
  return tape.record(value) { tape, dy in
    let dy2 = dy.reshaped([rows, outFeatures])
    // dX = dY · W
    if let gx { tape.accumulateProduct(into: gx, dy2, transposeA: false, w, transposeB: false) }
    // dW += dYᵀ · X
    if let gw {
      let x2 = x.reshaped([rows, inFeatures])
      tape.accumulateProduct(into: gw, dy2, transposeA: true, x2, transposeB: false)
    }
    if let gb {
      withUnsafePointers(dy2) { dy in
        tape.storeGradients(.add(gb, count: outFeatures)) { db in
          for r in 0..<rows {
            for j in 0..<outFeatures { db[j] += dy[r * outFeatures + j] }
          }
        }
      }
    }
  }
}

extension Tape {
  /// Adds `op(a) · op(b)` to the gradient of `slot` with one `sgemm` (beta = 1 onto an existing
  /// buffer or the arena, beta = 0 into a fresh one). `a` and `b` are matrices as stored.
  func accumulateProduct(
    into slot: Int, _ a: Tensor, transposeA: Bool, _ b: Tensor, transposeB: Bool
  ) {
    precondition(a.rank == 2 && b.rank == 2, "accumulateProduct: \(a.shape) × \(b.shape)")
    let m = transposeA ? a.shape[1] : a.shape[0]
    let k = transposeA ? a.shape[0] : a.shape[1]
    let n = transposeB ? b.shape[0] : b.shape[1]
    precondition(
      (transposeB ? b.shape[1] : b.shape[0]) == k && m * n == Tape.count(shapes[slot]),
      "accumulateProduct: \(a.shape) × \(b.shape) into \(shapes[slot])")
    withUnsafePointers(a, b) { pa, pb in
      withGradientBuffer(of: slot) { c, accumulate in
        guard let c = c.baseAddress else { return }
        if k == 0 {
          if !accumulate { c.update(repeating: 0, count: m * n) }
          return
        }
        sgemm(
          transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: pa,
          lda: Swift.max(a.shape[1], 1), b: pb, ldb: Swift.max(b.shape[1], 1),
          beta: accumulate ? 1 : 0, c: c, ldc: Swift.max(n, 1))
      }
    }
  }
}
