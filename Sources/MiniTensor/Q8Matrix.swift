/// A weight matrix `[rows, cols]` in ggml's q8_0 layout: each run of 32 weights of a row is
/// stored as 32 `Int8`s and one `Float` scale (`weight ≈ scale · q`), 9/32 of the `Float` bytes.
/// Used for inference: `linear(_:)` computes `x · Wᵀ` from the quantized weights.
public struct Q8Matrix: Sendable {
  /// Output features (rows of the weight).
  public let rows: Int
  /// Input features (`cols` is a multiple of 32).
  public let cols: Int
  let quants: [Int8]
  let scales: [Float]

  /// Quantizes a `[rows, cols]` weight whose `cols` is a multiple of 32.
  public init(_ weight: Tensor) {
    precondition(
      weight.rank == 2 && weight.shape[1] % Kernels.q8BlockSize == 0,
      "Q8Matrix: weight \(weight.shape) must be [rows, cols] with cols a multiple of 32")
    let (rows, cols) = (weight.shape[0], weight.shape[1])
    self.rows = rows
    self.cols = cols
    let count = rows * cols
    let source = weight.contiguous()
    var scales = [Float](repeating: 0, count: count / Kernels.q8BlockSize)
    let quants = [Int8](unsafeUninitializedCapacity: count) { quants, initialized in
      source.withUnsafeBufferPointer { source in
        scales.withUnsafeMutableBufferPointer { scales in
          Kernels.quantizeQ8(
            source.baseAddress!, rows: rows, cols: cols, quants: quants.baseAddress!,
            scales: scales.baseAddress!)
        }
      }
      initialized = count
    }
    self.quants = quants
    self.scales = scales
  }

  /// Whether a weight of this shape can be stored as q8_0.
  public static func canQuantize(_ shape: [Int]) -> Bool {
    shape.count == 2 && shape[1] % Kernels.q8BlockSize == 0 && shape[0] > 0 && shape[1] > 0
  }

  /// Bytes of quantized weights and scales.
  public var byteCount: Int { quants.count + 4 * scales.count }

  /// The dequantized weight `[rows, cols]`.
  public func dequantized() -> Tensor {
    Tensor(unsafeUninitializedShape: [rows, cols]) { out in
      withBuffers { quants, scales in
        Kernels.dequantizeQ8(
          quants: quants, scales: scales, cols: cols, rowRange: 0..<rows, output: out.baseAddress!)
      }
    }
  }

  /// Rows of the weight dequantized at a time by `linear(_:)` for inputs of several rows.
  static let panelRows = 128

  /// `x · Wᵀ` for `x` `[…, cols]`, result `[…, rows]`. One input row (decoding) is computed as
  /// ggml computes it: the row is quantized to q8_0 as well and each block is an integer dot
  /// product. Several rows (prefill) keep their `Float` values: the weight is dequantized one
  /// panel at a time into a small buffer and multiplied with `sgemm`; beyond 64 rows, where
  /// ``prefillProducts()`` chooses int8 (CPUs with VNNI), each row is quantized to q8_0 too and
  /// tiles of rows are multiplied by integer block dot products.
  public func linear(_ x: Tensor) -> Tensor {
    precondition(
      x.rank >= 1 && x.shape[x.rank - 1] == cols,
      "Q8Matrix.linear: input \(x.shape) with weight [\(rows), \(cols)]")
    let n = x.count / cols
    if Int8Prefill.uses(rows: n) { return int8Linear(x) }
    let input = x.contiguous()
    let outputShape = Array(x.shape.dropLast()) + [rows]
    return Tensor(unsafeUninitializedShape: outputShape) { y in
      input.withUnsafeBufferPointer { x in
        withBuffers { quants, scales in
          if n == 1 {
            Kernels.q8MatrixVector(
              quants: quants, scales: scales, x: x.baseAddress!, y: y.baseAddress!, rows: rows,
              cols: cols)
            return
          }
          let panel = UnsafeMutablePointer<Float>.allocate(capacity: Self.panelRows * cols)
          defer { panel.deallocate() }
          var start = 0
          while start < rows {
            let end = min(start + Self.panelRows, rows)
            Kernels.dequantizeQ8(
              quants: quants, scales: scales, cols: cols, rowRange: start..<end, output: panel)
            sgemm(
              transposeA: false, transposeB: true, m: n, n: end - start, k: cols,
              a: x.baseAddress!, lda: cols, b: panel, ldb: cols, c: y.baseAddress! + start,
              ldc: rows)
            start = end
          }
        }
      }
    }
  }

  private func withBuffers<R>(
    _ body: (UnsafePointer<Int8>, UnsafePointer<Float>) -> R
  ) -> R {
    quants.withUnsafeBufferPointer { q in
      scales.withUnsafeBufferPointer { s in body(q.baseAddress!, s.baseAddress!) }
    }
  }
}
