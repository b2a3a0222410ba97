internal import CKernels

/// A weight matrix `[rows, cols]` kept in one of ggml's block formats, byte for byte as a GGUF
/// file stores it (each row a run of whole blocks), for inference: ``linear(_:)`` computes
/// `x · Wᵀ` as llama.cpp does, reading the blocks as they are.
public struct GGMLMatrix: Sendable {
  /// The block formats with decoding kernels (`ggml_type` names and numbers).
  public enum Format: String, Sendable, CaseIterable {
    /// Blocks of 32 4-bit values with an f16 scale (18 bytes).
    case q4_0
    /// Blocks of 32 4-bit values with an f16 scale and minimum (20 bytes).
    case q4_1
    /// Blocks of 32 5-bit values with an f16 scale (22 bytes).
    case q5_0
    /// Blocks of 32 5-bit values with an f16 scale and minimum (24 bytes).
    case q5_1
    /// Blocks of 32 `Int8` with an f16 scale (34 bytes).
    case q8_0
    /// Super-blocks of 256 4-bit values in 8 groups with 6-bit scales and minimums (144 bytes).
    case q4_K
    /// Super-blocks of 256 5-bit values in 8 groups with 6-bit scales and minimums (176 bytes).
    case q5_K
    /// Super-blocks of 256 6-bit values in 16 groups with 8-bit scales (210 bytes).
    case q6_K

    /// The `ggml_type` number.
    public var ggmlType: UInt32 { cType.rawValue }

    /// The format whose `ggml_type` number is `ggmlType`, or `nil`.
    public init?(ggmlType: UInt32) {
      guard let match = Self.allCases.first(where: { $0.ggmlType == ggmlType }) else { return nil }
      self = match
    }

    /// Values per block: 32, or 256 for the k-quants.
    public var blockSize: Int { ck_ggml_block_size(cType) }

    /// Bytes of a row of `cols` values (a multiple of ``blockSize``).
    public func rowByteCount(_ cols: Int) -> Int { ck_ggml_row_bytes(cType, cols) }

    var cType: ck_ggml_type {
      switch self {
      case .q4_0: CK_GGML_Q4_0
      case .q4_1: CK_GGML_Q4_1
      case .q5_0: CK_GGML_Q5_0
      case .q5_1: CK_GGML_Q5_1
      case .q8_0: CK_GGML_Q8_0
      case .q4_K: CK_GGML_Q4_K
      case .q5_K: CK_GGML_Q5_K
      case .q6_K: CK_GGML_Q6_K
      }
    }
  }

  /// Why bytes cannot be read as a ``GGMLMatrix``.
  public enum LayoutError: Error, Equatable, CustomStringConvertible {
    /// `cols` is not a positive multiple of the format's block size.
    case partialBlocks(format: Format, cols: Int)
    /// The byte count is not `rows` rows of `cols` values.
    case byteCount(format: Format, rows: Int, cols: Int, expected: Int, found: Int)
    /// A block's scale or minimum is NaN or infinite.
    case nonFiniteScale(format: Format, row: Int)

    public var description: String {
      switch self {
      case .partialBlocks(let format, let cols):
        "\(format.rawValue): rows of \(cols) values are not whole blocks of \(format.blockSize)"
      case .byteCount(let format, let rows, let cols, let expected, let found):
        "\(format.rawValue): [\(rows), \(cols)] takes \(expected) bytes, found \(found)"
      case .nonFiniteScale(let format, let row):
        "\(format.rawValue): row \(row) has a block whose scale is NaN or infinite"
      }
    }
  }

  /// The block format.
  public let format: Format
  /// Output features (rows of the weight).
  public let rows: Int
  /// Input features (a multiple of the format's block size).
  public let cols: Int
  let bytes: [UInt8]
  /// Whether ``linear(_:)`` keeps its input in `Float` (``computingInFloat()``).
  public internal(set) var computesInFloat = false
  /// Whether ``linear(_:)`` computes every input row as ``rowInvariantLinear(_:)`` does, however
  /// many rows (``rowInvariantAtEveryLength()``).
  public internal(set) var rowInvariant = false

  /// Reads `rows` rows of `cols` values of `format` from `bytes` (copied), checking the sizes
  /// and that every block's scale is finite.
  /// - Throws: ``LayoutError``.
  public init(format: Format, rows: Int, cols: Int, bytes: some Collection<UInt8>)
    throws(LayoutError)
  {
    guard rows > 0, cols > 0, cols % format.blockSize == 0 else {
      throw .partialBlocks(format: format, cols: cols)
    }
    let stride = format.rowByteCount(cols)
    guard bytes.count == rows * stride else {
      throw .byteCount(
        format: format, rows: rows, cols: cols, expected: rows * stride, found: bytes.count)
    }
    let copy = Array(bytes)
    let blocks = cols / format.blockSize
    let badRow = copy.withUnsafeBytes { raw in
      (0..<rows).first { row in
        ck_ggml_scales_are_finite(format.cType, raw.baseAddress! + row * stride, blocks) == 0
      }
    }
    if let badRow { throw .nonFiniteScale(format: format, row: badRow) }
    self.format = format
    self.rows = rows
    self.cols = cols
    self.bytes = copy
  }

  /// The same blocks, whose ``linear(_:)`` computes every input row as one row alone, bit for
  /// bit, however many rows it is given (a prompt of hundreds of tokens as well as a decoding
  /// step): llama.cpp's products at every prompt length, where ``linear(_:)`` otherwise hands
  /// inputs of more than 64 rows to faster products that round in another order.
  public func rowInvariantAtEveryLength() -> GGMLMatrix {
    var copy = self
    copy.rowInvariant = true
    return copy
  }

  /// The bytes of the blocks, row after row.
  public var blockBytes: [UInt8] { bytes }

  /// Bytes of the blocks.
  public var byteCount: Int { bytes.count }

  /// The matrix with its rows reordered: row `i` of the result is row `order[i]` of this one
  /// (blocks never cross rows, so rows move as whole runs of bytes).
  /// - Precondition: `order` is a permutation of `0..<rows`.
  public func reorderingRows(_ order: [Int]) -> GGMLMatrix {
    precondition(
      order.count == rows && Set(order) == Set(0..<rows),
      "GGMLMatrix.reorderingRows: not a permutation of \(rows) rows")
    let stride = format.rowByteCount(cols)
    var copy = [UInt8](repeating: 0, count: bytes.count)
    for (to, from) in order.enumerated() {
      copy[(to * stride)..<((to + 1) * stride)] = bytes[(from * stride)..<((from + 1) * stride)]
    }
    return GGMLMatrix(format: format, rows: rows, cols: cols, checked: copy)
  }

  private init(format: Format, rows: Int, cols: Int, checked bytes: [UInt8]) {
    self.format = format
    self.rows = rows
    self.cols = cols
    self.bytes = bytes
  }

  /// The dequantized weight `[rows, cols]`, value for value as ggml's `dequantize_row_*`.
  public func dequantized() -> Tensor {
    Tensor(unsafeUninitializedShape: [rows, cols]) { out in
      dequantizeRows(0..<rows, into: out.baseAddress!)
    }
  }

  /// Rows of the weight dequantized at a time by ``linear(_:)`` for inputs of many rows.
  static let panelRows = 128
  /// Input rows up to which ``linear(_:)`` quantizes each row and uses the integer kernels
  /// (a short prompt's prefill too: dequantizing every weight for `sgemm` costs more than the
  /// integer products of a few dozen rows, which read each weight once per group of rows).
  static let integerRows = 64

  /// `x · Wᵀ` for `x` `[…, cols]`, result `[…, rows]`, as llama.cpp computes it: every input
  /// row is quantized as ggml quantizes activations (q8_0, q8_1 or q8_K by format). Up to 64 rows
  /// (decoding, short prompts), or any number with ``rowInvariant``, are then multiplied by
  /// integer block dot products, each row as ``rowInvariantLinear(_:)`` computes it; more rows (long prompts) take tiles of int8 block
  /// products where ``prefillProducts()`` chooses them (CPUs with VNNI), else the quantized
  /// values `d·q` as `Float` meet the weight dequantized a panel at a time, with `sgemm` (the
  /// same sums, rounded in another order either way).
  public func linear(_ x: Tensor) -> Tensor {
    precondition(
      x.rank >= 1 && x.shape[x.rank - 1] == cols,
      "GGMLMatrix.linear: input \(x.shape) with weight [\(rows), \(cols)] \(format.rawValue)")
    if computesInFloat { return floatLinear(x) }
    let n = x.count / cols
    if n > 1 && (n <= Self.integerRows || rowInvariant) { return rowInvariantLinear(x) }
    if Int8Prefill.uses(rows: n) { return int8Linear(x) }
    let input = x.contiguous()
    let outputShape = Array(x.shape.dropLast()) + [rows]
    return Tensor(unsafeUninitializedShape: outputShape) { y in
      input.withUnsafeBufferPointer { x in
        if n == 1 {
          matrixVector(x.baseAddress!, y.baseAddress!)
          return
        }
        let panel = UnsafeMutablePointer<Float>.allocate(capacity: Self.panelRows * cols)
        defer { panel.deallocate() }
        let rounded = UnsafeMutablePointer<Float>.allocate(capacity: n * cols)
        defer { rounded.deallocate() }
        roundTripActivations(x.baseAddress!, rows: n, into: rounded)
        var start = 0
        while start < rows {
          let end = min(start + Self.panelRows, rows)
          dequantizeRows(start..<end, into: panel)
          sgemm(
            transposeA: false, transposeB: true, m: n, n: end - start, k: cols,
            a: rounded, lda: cols, b: panel, ldb: cols, c: y.baseAddress! + start,
            ldc: rows)
          start = end
        }
      }
    }
  }

  /// `y = W · x` for one row `x` `[cols]`: `x` quantized once, rows split over threads in
  /// whole groups of 8 (the kernels read 8 weight rows per pass; a row's result does not
  /// depend on its group).
  func matrixVector(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
    let type = format.cType
    let stride = format.rowByteCount(cols)
    let activationBytes = ck_ggml_activation_bytes(type, cols)
    let rowCount = rows
    withUnsafeTemporaryAllocation(byteCount: activationBytes, alignment: 64) { xq in
      ck_ggml_quantize_activation(type, x, cols, xq.baseAddress!)
      let activation = UncheckedSendable(UnsafeRawPointer(xq.baseAddress!))
      bytes.withUnsafeBytes { w in
        let weights = UncheckedSendable(w.baseAddress!)
        let out = UncheckedSendable(y)
        let groups = (rowCount + 7) / 8
        parallelFor(groups, grain: max(1, Kernels.parallelWork / max(8 * cols, 1))) { range in
          let lower = range.lowerBound * 8
          let upper = min(range.upperBound * 8, rowCount)
          ck_ggml_dot_rows(
            type, weights.value + lower * stride, activation.value, out.value + lower,
            upper - lower, cols)
        }
      }
    }
  }

  /// Each of `rows` input rows quantized as an activation and read back as `Float`.
  private func roundTripActivations(
    _ x: UnsafePointer<Float>, rows: Int, into output: UnsafeMutablePointer<Float>
  ) {
    let type = format.cType
    let columns = cols
    let scratchBytes = ck_ggml_activation_bytes(type, cols)
    let (input, out) = (UncheckedSendable(x), UncheckedSendable(output))
    parallelFor(rows, grain: max(1, Kernels.parallelWork / max(columns, 1))) { range in
      withUnsafeTemporaryAllocation(byteCount: scratchBytes, alignment: 64) { scratch in
        for row in range {
          ck_ggml_round_trip_activation(
            type, input.value + row * columns, columns, scratch.baseAddress!,
            out.value + row * columns)
        }
      }
    }
  }

  func dequantizeRows(_ range: Range<Int>, into output: UnsafeMutablePointer<Float>) {
    let stride = format.rowByteCount(cols)
    let type = format.cType
    let columns = cols
    bytes.withUnsafeBytes { w in
      let weights = UncheckedSendable(w.baseAddress! + range.lowerBound * stride)
      let out = UncheckedSendable(output)
      parallelFor(range.count, grain: max(1, Kernels.parallelWork / max(columns, 1))) { rows in
        ck_ggml_dequantize_rows(
          type, weights.value + rows.lowerBound * stride, out.value + rows.lowerBound * columns,
          rows.count, columns)
      }
    }
  }
}
