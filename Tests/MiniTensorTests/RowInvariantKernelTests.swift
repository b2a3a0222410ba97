import CKernels
import MiniTensor
import TestSupport
import Testing

/// The multi-row kernels: on every instruction set this CPU runs, each input row's results are
/// the bits of that set's one-row kernel on the row alone, whatever the number of rows in the
/// call (1…16, so every group size and a partial last group); and each set agrees with the
/// portable C path to rounding.
@Suite("Row-invariant multi-row kernels")
struct RowInvariantKernelTests {
  static func values(_ count: Int, seed: UInt64) -> [Float] {
    var rng = PhiloxRNG(seed: seed)
    return (0..<count).map { _ in Float(Int(rng.next() % 20_001) - 10_000) / 10_000 }
  }

  /// Rows of `values` `[n, width]` of `values`, the first `count` of them.
  static func prefix(_ values: [Float], rows count: Int, width: Int) -> [Float] {
    Array(values[0..<(count * width)])
  }

  @Test(arguments: [1, 7, 8, 15, 17, 64, 100, 255, 257, 1_000, 2_600])
  func f32RowsEqualTheOneRowKernel(cols: Int) {
    let rows = 37
    let weight = Self.values(rows * cols, seed: UInt64(cols))
    let x = Self.values(16 * cols, seed: UInt64(cols) + 1)
    let portable = RowInvariantKernels.f32OneRow(
      .portable, weight: weight, x: x, rows: rows, cols: cols, n: 16)
    for set in runnableInstructionSets {
      let reference = RowInvariantKernels.f32OneRow(
        set, weight: weight, x: x, rows: rows, cols: cols, n: 16)
      for n in 1...16 {
        let multi = RowInvariantKernels.f32(
          set, weight: weight, x: Self.prefix(x, rows: n, width: cols), rows: rows, cols: cols,
          n: n)
        #expect(
          multi.map(\.bitPattern) == reference[0..<(n * rows)].map(\.bitPattern),
          "\(set), \(n) rows of \(cols)")
      }
      // Against the portable C: sums of at most 1 000 products of values in [-1, 1], rounded in
      // another order (and without fused multiply-adds): within n·2⁻²³ of Σ|w·x| ≤ 1 000.
      let bound = Float(cols) * 0x1p-23 * Float(cols)
      expectClose(reference, portable, rtol: 0, atol: bound, "\(set) against portable")
    }
  }

  @Test(arguments: [32, 64, 96, 160, 288, 1_024])
  func q8RowsEqualTheOneRowKernel(cols: Int) {
    let rows = 29
    let weight = Self.values(rows * cols, seed: UInt64(cols) + 7)
    let x = Self.values(16 * cols, seed: UInt64(cols) + 8)
    let portable = RowInvariantKernels.q8(
      .portable, weight: weight, x: x, rows: rows, cols: cols, n: 16, multi: false)
    for set in runnableInstructionSets {
      let reference = RowInvariantKernels.q8(
        set, weight: weight, x: x, rows: rows, cols: cols, n: 16, multi: false)
      for n in 1...16 {
        let multi = RowInvariantKernels.q8(
          set, weight: weight, x: Self.prefix(x, rows: n, width: cols), rows: rows, cols: cols,
          n: n, multi: true)
        #expect(
          multi.map(\.bitPattern) == reference[0..<(n * rows)].map(\.bitPattern),
          "\(set), \(n) rows of \(cols)")
      }
      // Exact integer block sums; the float sum of ≤ 32 scaled blocks (|each| ≤ 32·(1/127)²·127²
      // with values in [-1, 1]) rounds in another order: within 2⁻¹⁸ of Σ ≤ cols.
      expectClose(
        reference, portable, rtol: 0, atol: Float(cols) * 0x1p-18, "\(set) against portable")
    }
  }

  @Test(arguments: GGMLMatrix.Format.allCases)
  func ggmlRowsEqualTheOneRowKernel(format: GGMLMatrix.Format) throws {
    let (rows, cols) = (23, 512)
    let matrix = try GGMLMatrix(
      format: format, rows: rows, cols: cols,
      bytes: GGMLMatrixTests.randomBlocks(format, rows: rows, cols: cols, seed: 11))
    let x = Self.values(16 * cols, seed: 12)
    let portable = RowInvariantKernels.ggml(.portable, matrix: matrix, x: x, n: 16, multi: false)
    for set in runnableInstructionSets {
      let reference = RowInvariantKernels.ggml(set, matrix: matrix, x: x, n: 16, multi: false)
      for n in 1...16 {
        let multi = RowInvariantKernels.ggml(
          set, matrix: matrix, x: Self.prefix(x, rows: n, width: cols), n: n, multi: true)
        #expect(
          multi.map(\.bitPattern) == reference[0..<(n * rows)].map(\.bitPattern),
          "\(format) \(set), \(n) rows")
      }
      // Exact integer sums, float scaling and accumulation over 16 or 2 blocks in another
      // order: within 2⁻¹⁶ of the largest result's magnitude.
      expectCloseScaled(reference, portable, rtol: 0x1p-16, "\(format) \(set) against portable")
    }
  }

  /// The kernels for groups of activation rows (int16 products for q8_0 groups of 5 to 8
  /// rows, the unpacked blocks of 8 weight rows for q4_0, q4_K and q6_K) against the one-row
  /// kernels: weight-row counts below, at and across the tiles (8 and 32 rows) with odd
  /// tails, 1 to 65 blocks a row (q8_0 rows of more than 32 blocks in chunks, 2 or 3 of them),
  /// 2 to 24 activation rows (groups of 2 to 8, uneven last groups), and activation blocks of
  /// zeros and of one large value among small ones.
  @Test(arguments: [GGMLMatrix.Format.q8_0, .q4_0, .q4_K, .q6_K])
  func ggmlGroupKernelsEqualTheOneRowKernel(format: GGMLMatrix.Format) throws {
    let shapes =
      format.blockSize == 32
      ? [(75, 96), (9, 1_376), (33, 32), (7, 64), (40, 160), (35, 2_080)] : [(41, 512)]
    for (rows, cols) in shapes {
      let matrix = try GGMLMatrix(
        format: format, rows: rows, cols: cols,
        bytes: GGMLMatrixTests.randomBlocks(format, rows: rows, cols: cols, seed: UInt64(rows)))
      var x = Self.values(24 * cols, seed: UInt64(cols) + 31)
      // Row 1: its first block zero; row 4: one large value in its second block.
      for j in 0..<32 { x[cols + j] = 0 }
      x[4 * cols + min(40, cols - 1)] = 300
      for set in runnableInstructionSets {
        let reference = RowInvariantKernels.ggml(set, matrix: matrix, x: x, n: 24, multi: false)
        for n in [2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 16, 17, 20, 24] {
          let multi = RowInvariantKernels.ggml(
            set, matrix: matrix, x: Self.prefix(x, rows: n, width: cols), n: n, multi: true)
          #expect(
            multi.map(\.bitPattern) == reference[0..<(n * rows)].map(\.bitPattern),
            "\(format) \(set), \(rows)×\(cols), \(n) rows")
        }
      }
    }
  }

  /// The public products on the active kernels: each row of a batch equals the single-row
  /// product of that row (the decoding path), bit for bit.
  @Test func productsEqualTheirSingleRowProducts() throws {
    let (rows, cols) = (70, 96)
    let weight = Tensor(Self.values(rows * cols, seed: 21), shape: [rows, cols])
    let x = Tensor(Self.values(13 * cols, seed: 22), shape: [13, cols])
    let q8 = Q8Matrix(weight)
    let ggml = try GGMLMatrix(
      format: .q8_0, rows: rows, cols: 512,
      bytes: GGMLMatrixTests.randomBlocks(.q8_0, rows: rows, cols: 512, seed: 23))
    let wide = Tensor(Self.values(13 * 512, seed: 24), shape: [13, 512])
    let dense = rowInvariantLinear(x, weight)
    let quantized = q8.rowInvariantLinear(x)
    let blocks = ggml.rowInvariantLinear(wide)
    for row in 0..<13 {
      let single = x[row: row].reshaped([1, cols])
      let alone = matmul(single, weight, transposeB: true).scalars
      #expect(dense[row: row].scalars.map(\.bitPattern) == alone.map(\.bitPattern))
      #expect(
        quantized[row: row].scalars.map(\.bitPattern)
          == q8.linear(single).scalars.map(\.bitPattern))
      #expect(
        blocks[row: row].scalars.map(\.bitPattern)
          == ggml.linear(wide[row: row].reshaped([1, 512])).scalars.map(\.bitPattern))
    }
  }
}
