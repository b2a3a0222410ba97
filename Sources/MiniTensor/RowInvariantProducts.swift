internal import CKernels

// Products whose every input row is computed exactly as a one-row product computes it (the
// decoding path of `linear`, `Q8Matrix.linear` and `GGMLMatrix.linear` for a single row), while
// the weights are read once per group of rows: a row's result is the same bits whatever other
// rows share the call. A server decoding several sequences at once uses them, so that a reply
// does not depend on what else is in the batch.

/// `x · Wᵀ` for `x` `[…, in]` and `weight` `[out, in]`, result `[…, out]`: each row of `x` gives,
/// bit for bit, what `linear` gives for that row alone (the matrix-vector kernels), whatever the
/// number of rows; the weight is streamed once per group of rows.
public func rowInvariantLinear(_ x: Tensor, _ weight: Tensor) -> Tensor {
  precondition(
    weight.rank == 2 && x.rank >= 1 && x.shape[x.rank - 1] == weight.shape[1],
    "rowInvariantLinear: input \(x.shape) with weight \(weight.shape) ([out, in])")
  let (rows, cols) = (weight.shape[0], weight.shape[1])
  let n = x.count / max(cols, 1)
  let outputShape = Array(x.shape.dropLast()) + [rows]
  let input = x.contiguous()
  let w = weight.contiguous()
  return Tensor(unsafeUninitializedShape: outputShape) { y in
    guard let out = y.baseAddress, n > 0, rows > 0 else { return }
    if cols == 0 {
      out.update(repeating: 0, count: n * rows)
      return
    }
    withUnsafePointers(input, w) { x, w in
      let (xs, ws, ys) = (UncheckedSendable(x), UncheckedSendable(w), UncheckedSendable(out))
      parallelFor(rows, grain: max(1, Kernels.parallelWork / cols)) { range in
        ck_f32_dot_rows_multi(
          ws.value + range.lowerBound * cols, cols, xs.value, cols, ys.value + range.lowerBound,
          rows, range.count, cols, n)
      }
    }
  }
}

extension Q8Matrix {
  /// `x · Wᵀ` for `x` `[…, cols]` with each row computed as ``linear(_:)`` computes a single
  /// row (quantized to q8_0, integer block dot products), bit for bit, whatever the number of
  /// rows; the weight is streamed once per group of rows.
  public func rowInvariantLinear(_ x: Tensor) -> Tensor {
    precondition(
      x.rank >= 1 && x.shape[x.rank - 1] == cols,
      "Q8Matrix.rowInvariantLinear: input \(x.shape) with weight [\(rows), \(cols)]")
    let n = x.count / cols
    let input = x.contiguous()
    let blocks = cols / Kernels.q8BlockSize
    let (rows, cols) = (rows, cols)
    return Tensor(unsafeUninitializedShape: Array(x.shape.dropLast()) + [rows]) { y in
      guard n > 0 else { return }
      withUnsafeTemporaryAllocation(of: Int8.self, capacity: n * cols) { xQuants in
        withUnsafeTemporaryAllocation(of: Float.self, capacity: n * blocks) { xScales in
          let (xq, xd) = (xQuants.baseAddress!, xScales.baseAddress!)
          input.withUnsafeBufferPointer { x in
            for row in 0..<n {
              ck_q8_quantize(x.baseAddress! + row * cols, cols, xq + row * cols, xd + row * blocks)
            }
          }
          quants.withUnsafeBufferPointer { quants in
            scales.withUnsafeBufferPointer { scales in
              let (wq, wd) = (
                UncheckedSendable(quants.baseAddress!), UncheckedSendable(scales.baseAddress!)
              )
              let (aq, ad) = (
                UncheckedSendable(UnsafePointer(xq)), UncheckedSendable(UnsafePointer(xd))
              )
              let out = UncheckedSendable(y.baseAddress!)
              parallelFor(rows, grain: max(1, Kernels.parallelWork / cols)) { range in
                ck_q8_dot_rows_multi(
                  wq.value + range.lowerBound * cols, wd.value + range.lowerBound * blocks,
                  aq.value, ad.value, out.value + range.lowerBound, rows, range.count, cols, n)
              }
            }
          }
        }
      }
    }
  }
}

extension GGMLMatrix {
  /// `x · Wᵀ` for `x` `[…, cols]` with each row computed as ``linear(_:)`` computes a single
  /// row (quantized as ggml quantizes activations, integer block dot products), bit for bit,
  /// whatever the number of rows; the weight is streamed once per group of rows.
  public func rowInvariantLinear(_ x: Tensor) -> Tensor {
    precondition(
      x.rank >= 1 && x.shape[x.rank - 1] == cols,
      "GGMLMatrix.rowInvariantLinear: input \(x.shape) with weight [\(rows), \(cols)] \(format.rawValue)"
    )
    let n = x.count / cols
    let input = x.contiguous()
    let type = format.cType
    let stride = format.rowByteCount(cols)
    let activationBytes = ck_ggml_activation_bytes(type, cols)
    let (rows, cols) = (rows, cols)
    return Tensor(unsafeUninitializedShape: Array(x.shape.dropLast()) + [rows]) { y in
      guard n > 0 else { return }
      withUnsafeTemporaryAllocation(byteCount: n * activationBytes, alignment: 64) { xq in
        input.withUnsafeBufferPointer { x in
          for row in 0..<n {
            ck_ggml_quantize_activation(
              type, x.baseAddress! + row * cols, cols, xq.baseAddress! + row * activationBytes)
          }
        }
        let activation = UncheckedSendable(UnsafeRawPointer(xq.baseAddress!))
        bytes.withUnsafeBytes { w in
          let weights = UncheckedSendable(w.baseAddress!)
          let out = UncheckedSendable(y.baseAddress!)
          // Whole groups of 8 weight rows per thread (the kernels read 8 rows per pass).
          parallelFor((rows + 7) / 8, grain: max(1, Kernels.parallelWork / (8 * cols))) { range in
            let lower = range.lowerBound * 8
            let upper = min(range.upperBound * 8, rows)
            ck_ggml_dot_rows_multi(
              type, weights.value + lower * stride, activation.value, out.value + lower, rows,
              upper - lower, cols, n)
          }
        }
      }
    }
  }
}

/// The multi-row kernels of one instruction set, for tests: `y[k·rows + r]` for `n` input rows.
package enum RowInvariantKernels {
  /// `ck_f32_dot_rows_multi_for`: `weight` `[rows, cols]`, `x` `[n, cols]`, result `[n, rows]`.
  package static func f32(
    _ isa: KernelInstructionSet, weight: [Float], x: [Float], rows: Int, cols: Int, n: Int
  ) -> [Float] {
    [Float](unsafeUninitializedCapacity: n * rows) { y, count in
      ck_f32_dot_rows_multi_for(
        ck_isa(rawValue: UInt32(isa.rawValue)), weight, cols, x, cols, y.baseAddress!, rows, rows,
        cols, n)
      count = n * rows
    }
  }

  /// `f32_dot_rows` of one instruction set, one input row at a time: the reference.
  package static func f32OneRow(
    _ isa: KernelInstructionSet, weight: [Float], x: [Float], rows: Int, cols: Int, n: Int
  ) -> [Float] {
    let kernels = ck_kernels_for(ck_isa(rawValue: UInt32(isa.rawValue))).pointee
    return [Float](unsafeUninitializedCapacity: n * rows) { y, count in
      weight.withUnsafeBufferPointer { w in
        x.withUnsafeBufferPointer { x in
          for k in 0..<n {
            kernels.f32_dot_rows(
              w.baseAddress!, cols, x.baseAddress! + k * cols, y.baseAddress! + k * rows, rows,
              cols, 0)
          }
        }
      }
      count = n * rows
    }
  }

  /// `ck_q8_dot_rows_multi_for` (`multi`) or that set's `q8_dot_rows` row by row, on `weight`
  /// and `x` quantized to q8_0.
  package static func q8(
    _ isa: KernelInstructionSet, weight: [Float], x: [Float], rows: Int, cols: Int, n: Int,
    multi: Bool
  ) -> [Float] {
    let blocks = cols / 32
    var (wq, wd) = (
      [Int8](repeating: 0, count: rows * cols), [Float](repeating: 0, count: rows * blocks)
    )
    var (xq, xd) = ([Int8](repeating: 0, count: n * cols), [Float](repeating: 0, count: n * blocks))
    ck_q8_quantize(weight, rows * cols, &wq, &wd)
    ck_q8_quantize(x, n * cols, &xq, &xd)
    let set = ck_isa(rawValue: UInt32(isa.rawValue))
    let kernels = ck_kernels_for(set).pointee
    return [Float](unsafeUninitializedCapacity: n * rows) { y, count in
      if multi {
        ck_q8_dot_rows_multi_for(set, wq, wd, xq, xd, y.baseAddress!, rows, rows, cols, n)
      } else {
        for k in 0..<n {
          kernels.q8_dot_rows(
            wq, wd, Array(xq[(k * cols)...]), Array(xd[(k * blocks)...]),
            y.baseAddress! + k * rows, rows, cols)
        }
      }
      count = n * rows
    }
  }

  /// `ck_ggml_dot_rows_multi_for` (`multi`) or `ck_ggml_dot_rows_for` row by row, for a
  /// `matrix` and `x` `[n, cols]` quantized as activations.
  package static func ggml(
    _ isa: KernelInstructionSet, matrix: GGMLMatrix, x: [Float], n: Int, multi: Bool
  ) -> [Float] {
    let (rows, cols) = (matrix.rows, matrix.cols)
    let type = matrix.format.cType
    let activationBytes = ck_ggml_activation_bytes(type, cols)
    var activations = [UInt8](repeating: 0, count: n * activationBytes)
    activations.withUnsafeMutableBytes { a in
      x.withUnsafeBufferPointer { x in
        for k in 0..<n {
          ck_ggml_quantize_activation(
            type, x.baseAddress! + k * cols, cols, a.baseAddress! + k * activationBytes)
        }
      }
    }
    let set = ck_isa(rawValue: UInt32(isa.rawValue))
    return [Float](unsafeUninitializedCapacity: n * rows) { y, count in
      matrix.bytes.withUnsafeBytes { w in
        activations.withUnsafeBytes { a in
          if multi {
            ck_ggml_dot_rows_multi_for(
              set, type, w.baseAddress!, a.baseAddress!, y.baseAddress!, rows, rows, cols, n)
          } else {
            for k in 0..<n {
              ck_ggml_dot_rows_for(
                set, type, w.baseAddress!, a.baseAddress! + k * activationBytes,
                y.baseAddress! + k * rows, rows, cols)
            }
          }
        }
      }
      count = n * rows
    }
  }
}
