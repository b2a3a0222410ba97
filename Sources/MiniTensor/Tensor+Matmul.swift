internal import CKernels
internal import COpenBLAS

/// Row-major single-precision GEMM: `C = alpha · op(A) · op(B) + beta · C`, straight to
/// `cblas_sgemm`. `op(A)` is `[m, k]`, `op(B)` is `[k, n]`, `C` is `[m, n]` with leading dimension
/// `ldc`.
package func sgemm(
  transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
  a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
  c: UnsafeMutablePointer<Float>, ldc: Int
) {
  if m == 0 || n == 0 { return }
  if k == 0 {
    for i in 0..<m {
      for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
    }
    return
  }
  if m == 1 {
    // One output row (decoding): a matrix-vector product. OpenBLAS 0.3.21's sgemm would pack the
    // whole of B first; sgemv streams it once. `c` may be uninitialised: zero it when beta is 0
    // so no NaN in it can survive a `0 · c`.
    if transposeB, alpha == 1, beta == 0 || beta == 1, !transposeA || lda == 1 {
      // c[n] = B[n, k] · a, rows split over the worker pool: streams B at memory speed without
      // waking OpenBLAS's threads for a few microseconds of work.
      parallelFor(n, grain: max(1, Kernels.parallelWork / max(k, 1))) { rows in
        ck_f32_dot_rows(
          b + rows.lowerBound * ldb, ldb, a, c + rows.lowerBound, rows.count, k, beta == 1 ? 1 : 0)
      }
      return
    }
    if beta == 0 { c.update(repeating: 0, count: n) }
    OpenBLASGate.call(threads: threadCount()) {
      if transposeB {
        // c[n] = B[n, k] · a
        cblas_sgemv(
          CblasRowMajor, CblasNoTrans, Int32(n), Int32(k), alpha, b, Int32(ldb), a,
          Int32(transposeA ? lda : 1), beta, c, 1)
      } else {
        // c[n] = B[k, n]ᵀ · a
        cblas_sgemv(
          CblasRowMajor, CblasTrans, Int32(k), Int32(n), alpha, b, Int32(ldb), a,
          Int32(transposeA ? lda : 1), beta, c, 1)
      }
    }
    return
  }
  GEMMProfile.measure(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k) {
    OpenBLASGate.call(threads: threadCount()) {
      cblas_sgemm(
        CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans,
        transposeB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda),
        b, Int32(ldb), beta, c, Int32(ldc))
    }
  }
}

/// How a matrix view reaches BLAS: its transpose flag and leading dimension.
struct MatrixOperand {
  var transposed: Bool
  var leadingDimension: Int

  /// The BLAS form of a `[rows, cols]` matrix with these strides, or `nil` if it needs a copy.
  init?(rows: Int, cols: Int, rowStride: Int, colStride: Int) {
    if colStride == 1 || cols == 1, rowStride >= Swift.max(cols, 1) || rows == 1 {
      transposed = false
      leadingDimension = Swift.max(rows == 1 ? cols : rowStride, 1)
    } else if rowStride == 1 || rows == 1, colStride >= Swift.max(rows, 1) || cols == 1 {
      transposed = true
      leadingDimension = Swift.max(cols == 1 ? rows : colStride, 1)
    } else {
      return nil
    }
  }
}

/// Matrix product of the last two dimensions, batched over the leading ones (broadcast).
///
/// `a` is `[…, m, k]`, `b` is `[…, k, n]` (or 1-D vectors, promoted as NumPy does). Every product
/// goes to `cblas_sgemm`: transposed views become transpose flags, and when `b` is a matrix the
/// batch dimensions of `a` fold into `m` so one call does the whole batch.
/// - Parameters:
///   - transposeA: use the transpose of `a`'s last two dimensions.
///   - transposeB: use the transpose of `b`'s last two dimensions.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false)
  -> Tensor
{
  var a = transposeA ? a.transposed() : a
  var b = transposeB ? b.transposed() : b
  let vectorA = a.rank == 1
  let vectorB = b.rank == 1
  if vectorA { a = a.expandingDimension(at: 0) }
  if vectorB { b = b.expandingDimension(at: 1) }
  precondition(a.rank >= 2 && b.rank >= 2, "matmul: \(a.shape) × \(b.shape)")
  let m = a.shape[a.rank - 2]
  let k = a.shape[a.rank - 1]
  let n = b.shape[b.rank - 1]
  precondition(b.shape[b.rank - 2] == k, "matmul: \(a.shape) × \(b.shape)")

  var result: Tensor
  if b.rank == 2 && a.rank > 2 {
    // Fold the batch into M: [batch…, m, k] → [batch·m, k].
    let folded = a.reshaped([-1, k])
    let product = matmul2D(folded, b)
    result = product.reshaped(Array(a.shape.dropLast()) + [n])
  } else if a.rank == 2 && b.rank == 2 {
    result = matmul2D(a, b)
  } else {
    result = batchedMatmul(a, b, m: m, n: n, k: k)
  }
  if vectorA { result = result.reshaped(Array(result.shape.dropLast(2)) + [n]) }
  if vectorB {
    result = result.reshaped(Array(result.shape.dropLast(vectorA ? 1 : 2)) + (vectorA ? [] : [m]))
  }
  return result
}

private func operand(_ t: Tensor) -> (Tensor, MatrixOperand) {
  let r = t.rank
  if let op = MatrixOperand(
    rows: t.shape[r - 2], cols: t.shape[r - 1], rowStride: t.strides[r - 2],
    colStride: t.strides[r - 1])
  {
    return (t, op)
  }
  let copy = t.contiguousCopy()
  return (
    copy,
    MatrixOperand(
      rows: copy.shape[r - 2], cols: copy.shape[r - 1], rowStride: copy.strides[r - 2],
      colStride: copy.strides[r - 1])!
  )
}

private func matmul2D(_ a: Tensor, _ b: Tensor) -> Tensor {
  let (a, opA) = operand(a)
  let (b, opB) = operand(b)
  let m = a.shape[0]
  let k = a.shape[1]
  let n = b.shape[1]
  let result = Tensor(uninitializedShape: [m, n])
  sgemm(
    transposeA: opA.transposed, transposeB: opB.transposed, m: m, n: n, k: k,
    a: a.storage.base + a.offset, lda: opA.leadingDimension,
    b: b.storage.base + b.offset, ldb: opB.leadingDimension,
    c: result.storage.base, ldc: Swift.max(n, 1))
  return result
}

private func batchedMatmul(_ a: Tensor, _ b: Tensor, m: Int, n: Int, k: Int) -> Tensor {
  let batchShape = Tensor.broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)))
  let (a, opA) = operand(a.broadcast(to: batchShape + [m, k]))
  let (b, opB) = operand(b.broadcast(to: batchShape + [k, n]))
  let result = Tensor(uninitializedShape: batchShape + [m, n])
  let batches = batchShape.reduce(1, *)
  var index = [Int](repeating: 0, count: batchShape.count)
  for batch in 0..<batches {
    var offsetA = a.offset
    var offsetB = b.offset
    for d in 0..<batchShape.count {
      offsetA += index[d] * a.strides[d]
      offsetB += index[d] * b.strides[d]
    }
    sgemm(
      transposeA: opA.transposed, transposeB: opB.transposed, m: m, n: n, k: k,
      a: a.storage.base + offsetA, lda: opA.leadingDimension,
      b: b.storage.base + offsetB, ldb: opB.leadingDimension,
      c: result.storage.base + batch * m * n, ldc: Swift.max(n, 1))
    var d = batchShape.count - 1
    while d >= 0 {
      index[d] += 1
      if index[d] < batchShape[d] { break }
      index[d] = 0
      d -= 1
    }
  }
  return result
}

/// Writes (or, with `accumulate`, adds) `a · b` into `c` without allocating when the operands
/// need no copy. `a` is `[…, m, k]` (batch folded into `m`), `b` is `[k, n]`, `c` is `[…, m, n]`.
public func matmul(_ a: Tensor, _ b: Tensor, into c: inout Tensor, accumulate: Bool = false) {
  precondition(a.rank >= 2 && b.rank == 2, "matmul(into:): \(a.shape) × \(b.shape)")
  let k = a.shape[a.rank - 1]
  let n = b.shape[1]
  precondition(b.shape[0] == k, "matmul(into:): \(a.shape) × \(b.shape)")
  let folded = a.rank == 2 ? a : a.reshaped([-1, k])
  let m = folded.shape[0]
  precondition(
    c.shape == Array(a.shape.dropLast()) + [n],
    "matmul(into:): \(a.shape) × \(b.shape) → \(c.shape)")
  let (fa, opA) = operand(folded)
  let (fb, opB) = operand(b)
  c.makeUniqueContiguous()
  sgemm(
    transposeA: opA.transposed, transposeB: opB.transposed, m: m, n: n, k: k,
    a: fa.storage.base + fa.offset, lda: opA.leadingDimension,
    b: fb.storage.base + fb.offset, ldb: opB.leadingDimension, beta: accumulate ? 1 : 0,
    c: c.storage.base + c.offset, ldc: Swift.max(n, 1))
}
