import CKernels
import Foundation
import MiniTensor
import TestSupport
import Testing

/// The tiled int8 products of long prompts (`ck_q8_gemm`, `ck_ggml_gemm`): every variant this CPU
/// runs against a `Double` sum of the exact integer block products, that reference against the
/// one-row kernels (llama.cpp's arithmetic), and the public products that use them. The bound is
/// the float rounding of a sum of `blocks` scaled terms (each term one product of scales and one
/// fused multiply-add, then a sum over 8 lanes): `(blocks + 16)·2⁻²³` times the sum of the
/// terms' magnitudes, which the reference returns.
@Suite("Int8 prefill products")
struct Int8PrefillTests {
  static func values(_ count: Int, seed: UInt64) -> [Float] {
    var rng = PhiloxRNG(seed: seed)
    return (0..<count).map { _ in Float(Int(rng.next() % 20_001) - 10_000) / 10_000 }
  }

  /// `|actual − expected| ≤ (blocks + 16)·2⁻²³·magnitude`, element for element.
  static func expectWithinRounding(
    _ actual: [Float], _ expected: [Float], magnitude: [Float], blocks: Int, _ comment: String,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    #expect(actual.count == expected.count, "\(comment)", sourceLocation: sourceLocation)
    var failures = 0
    for i in 0..<min(actual.count, expected.count) {
      let bound = Double(blocks + 16) * 0x1p-23 * Double(magnitude[i])
      let error = abs(Double(actual[i]) - Double(expected[i]))
      if !(error <= bound) {
        failures += 1
        if failures <= 3 {
          Issue.record(
            "\(comment) [\(i)]: \(actual[i]) vs \(expected[i]) (bound \(bound))",
            sourceLocation: sourceLocation)
        }
      }
    }
  }

  static let variants: [(ck_gemm_variant, String)] = [
    (CK_GEMM_PORTABLE, "portable"), (CK_GEMM_AVX2, "avx2"), (CK_GEMM_AVX_VNNI, "avx-vnni"),
    (CK_GEMM_VNNI, "avx512-vnni"),
  ]

  /// `cols` per format: 13 blocks of 32 (a partial group of four), or 3 super-blocks.
  static func width(_ format: GGMLMatrix.Format) -> Int { format.blockSize == 32 ? 416 : 768 }

  /// One format on `variant`: prepared activations of `n` rows against `rows` weight rows.
  static func checkGGML(_ format: GGMLMatrix.Format, variant: ck_gemm_variant, name: String) {
    let (rows, n, cols) = (37, 11, width(format))
    let type = ck_ggml_type(rawValue: format.ggmlType)
    let weight = GGMLMatrixTests.randomBlocks(format, rows: rows, cols: cols, seed: 41)
    let x = values(n * cols, seed: 42)
    let nativeBytes = ck_ggml_activation_bytes(type, cols)
    let preparedBytes = ck_gemm_activation_bytes(cols)
    var native = [UInt8](repeating: 0, count: n * nativeBytes)
    var prepared = [UInt8](repeating: 0, count: n * preparedBytes)
    native.withUnsafeMutableBytes { native in
      prepared.withUnsafeMutableBytes { prepared in
        for k in 0..<n {
          ck_ggml_gemm_prepare_activation(
            type, x.withUnsafeBufferPointer { $0.baseAddress! + k * cols }, cols,
            native.baseAddress! + k * nativeBytes, prepared.baseAddress! + k * preparedBytes)
        }
      }
    }
    var reference = [Float](repeating: 0, count: n * rows)
    var magnitude = [Float](repeating: 0, count: n * rows)
    var product = [Float](repeating: .nan, count: n * rows)
    ck_ggml_gemm_reference(type, weight, prepared, &reference, &magnitude, rows, rows, cols, n)
    ck_ggml_gemm_for(variant, type, weight, prepared, &product, rows, rows, cols, n)
    let blocks = cols / 32
    expectWithinRounding(
      product, reference, magnitude: magnitude, blocks: blocks, "\(format) \(name)")
    // The reference is llama.cpp's arithmetic: each row's one-row portable product agrees.
    var oneRow = [Float](repeating: 0, count: n * rows)
    native.withUnsafeBytes { native in
      oneRow.withUnsafeMutableBufferPointer { out in
        for k in 0..<n {
          ck_ggml_dot_rows_for(
            CK_ISA_PORTABLE, type, weight, native.baseAddress! + k * nativeBytes,
            out.baseAddress! + k * rows, rows, cols)
        }
      }
    }
    expectWithinRounding(
      oneRow, reference, magnitude: magnitude, blocks: blocks, "\(format) one-row kernel")
  }

  static func checkQ8(variant: ck_gemm_variant, name: String) {
    let (rows, n, cols) = (29, 10, 416)
    let blocks = cols / 32
    let weight = values(rows * cols, seed: 51)
    let x = values(n * cols, seed: 52)
    var quants = [Int8](repeating: 0, count: rows * cols)
    var scales = [Float](repeating: 0, count: rows * blocks)
    quants.withUnsafeMutableBufferPointer { q in
      scales.withUnsafeMutableBufferPointer { s in
        for r in 0..<rows {
          ck_q8_quantize(
            weight.withUnsafeBufferPointer { $0.baseAddress! + r * cols }, cols,
            q.baseAddress! + r * cols, s.baseAddress! + r * blocks)
        }
      }
    }
    let preparedBytes = ck_gemm_activation_bytes(cols)
    var prepared = [UInt8](repeating: 0, count: n * preparedBytes)
    prepared.withUnsafeMutableBytes { out in
      for k in 0..<n {
        ck_q8_gemm_prepare_activation(
          x.withUnsafeBufferPointer { $0.baseAddress! + k * cols }, cols,
          out.baseAddress! + k * preparedBytes)
      }
    }
    var reference = [Float](repeating: 0, count: n * rows)
    var magnitude = [Float](repeating: 0, count: n * rows)
    var product = [Float](repeating: .nan, count: n * rows)
    ck_q8_gemm_reference(quants, scales, prepared, &reference, &magnitude, rows, rows, cols, n)
    ck_q8_gemm_for(variant, quants, scales, prepared, &product, rows, rows, cols, n)
    expectWithinRounding(product, reference, magnitude: magnitude, blocks: blocks, "q8 \(name)")
    // Against the one-row q8_0 kernel on each row quantized alone.
    var oneRow = [Float](repeating: 0, count: n * rows)
    var xq = [Int8](repeating: 0, count: cols)
    var xd = [Float](repeating: 0, count: blocks)
    for k in 0..<n {
      ck_q8_quantize(Array(x[(k * cols)..<((k + 1) * cols)]), cols, &xq, &xd)
      oneRow.withUnsafeMutableBufferPointer { out in
        ck_q8_dot_rows(quants, scales, xq, xd, out.baseAddress! + k * rows, rows, cols)
      }
    }
    expectWithinRounding(oneRow, reference, magnitude: magnitude, blocks: blocks, "q8 one-row")
  }

  static func check(_ variant: ck_gemm_variant) {
    let name = variants.first { $0.0 == variant }!.1
    for format in GGMLMatrix.Format.allCases { checkGGML(format, variant: variant, name: name) }
    checkQ8(variant: variant, name: name)
  }

  @Test func portableMatchesTheExactBlockSums() { Self.check(CK_GEMM_PORTABLE) }

  @Test(.enabled(if: ck_gemm_variant_available(CK_GEMM_AVX2) != 0, "the CPU lacks AVX2"))
  func avx2MatchesTheExactBlockSums() { Self.check(CK_GEMM_AVX2) }

  @Test(.enabled(if: ck_gemm_variant_available(CK_GEMM_AVX_VNNI) != 0, "the CPU lacks AVX-VNNI"))
  func avxVNNIMatchesTheExactBlockSums() { Self.check(CK_GEMM_AVX_VNNI) }

  @Test(
    .enabled(if: ck_gemm_variant_available(CK_GEMM_VNNI) != 0, "the CPU lacks AVX-512 VNNI"))
  func avx512VNNIMatchesTheExactBlockSums() { Self.check(CK_GEMM_VNNI) }

  /// The reference and the magnitudes of its terms for `n` rows `x` against `weight` blocks.
  static func ggmlReference(
    _ format: GGMLMatrix.Format, weight: [UInt8], rows: Int, cols: Int, x: [Float], n: Int
  ) -> (reference: [Float], magnitude: [Float]) {
    let type = ck_ggml_type(rawValue: format.ggmlType)
    let preparedBytes = ck_gemm_activation_bytes(cols)
    var scratch = [UInt8](repeating: 0, count: ck_ggml_activation_bytes(type, cols))
    var prepared = [UInt8](repeating: 0, count: n * preparedBytes)
    prepared.withUnsafeMutableBytes { out in
      for k in 0..<n {
        ck_ggml_gemm_prepare_activation(
          type, x.withUnsafeBufferPointer { $0.baseAddress! + k * cols }, cols, &scratch,
          out.baseAddress! + k * preparedBytes)
      }
    }
    var reference = [Float](repeating: 0, count: n * rows)
    var magnitude = [Float](repeating: 0, count: n * rows)
    ck_ggml_gemm_reference(type, weight, prepared, &reference, &magnitude, rows, rows, cols, n)
    return (reference, magnitude)
  }

  /// The public products: `int8Linear` of 70 rows (weight rows split over threads, activation
  /// rows quantized in Swift's order) and `rowInvariantLinear` (llama.cpp's one-row arithmetic)
  /// both within rounding of the reference.
  @Test(arguments: GGMLMatrix.Format.allCases)
  func ggmlInt8LinearMatchesTheExactBlockSums(format: GGMLMatrix.Format) throws {
    let (rows, n, cols) = (50, 70, 512)
    let bytes = GGMLMatrixTests.randomBlocks(format, rows: rows, cols: cols, seed: 61)
    let matrix = try GGMLMatrix(format: format, rows: rows, cols: cols, bytes: bytes)
    let values = Self.values(n * cols, seed: 62)
    let x = Tensor(values, shape: [n, cols])
    let int8 = matrix.int8Linear(x)
    #expect(int8.shape == [n, rows])
    let (reference, magnitude) = Self.ggmlReference(
      format, weight: bytes, rows: rows, cols: cols, x: values, n: n)
    Self.expectWithinRounding(
      int8.scalars, reference, magnitude: magnitude, blocks: cols / 32,
      "\(format) int8Linear")
    Self.expectWithinRounding(
      matrix.rowInvariantLinear(x).scalars, reference, magnitude: magnitude,
      blocks: cols / 32, "\(format) rowInvariantLinear")
  }

  @Test func q8Int8LinearMatchesTheExactBlockSums() {
    let (rows, n, cols) = (45, 70, 256)
    let blocks = cols / 32
    let matrix = Q8Matrix(Tensor(Self.values(rows * cols, seed: 71), shape: [rows, cols]))
    let values = Self.values(n * cols, seed: 72)
    let int8 = matrix.int8Linear(Tensor(values, shape: [n, cols]))
    #expect(int8.shape == [n, rows])
    // Integer products of the rows quantized alone, in Double, with the dequantized weight
    // (d·q exact in Double) and each activation block's d·q.
    let w = matrix.dequantized().scalars
    var expected = [Float](repeating: 0, count: n * rows)
    var magnitude = [Float](repeating: 0, count: n * rows)
    var xq = [Int8](repeating: 0, count: cols)
    var xd = [Float](repeating: 0, count: blocks)
    for k in 0..<n {
      ck_q8_quantize(Array(values[(k * cols)..<((k + 1) * cols)]), cols, &xq, &xd)
      for r in 0..<rows {
        var (sum, size) = (0.0, 0.0)
        for i in 0..<cols {
          let term = Double(w[r * cols + i]) * Double(xd[i / 32]) * Double(xq[i])
          sum += term
          size += abs(term)
        }
        expected[k * rows + r] = Float(sum)
        magnitude[k * rows + r] = Float(size)
      }
    }
    Self.expectWithinRounding(
      int8.scalars, expected, magnitude: magnitude, blocks: blocks, "q8 int8Linear")
  }
}
