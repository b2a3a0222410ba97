import CKernels
import Foundation
import MiniTensor
import TestSupport
import Testing

/// ggml's block formats: the activation quantizers against ggml's reference arithmetic written
/// out here, the integer dot products of every dispatched set against the portable C and
/// against a `Double` sum over the dequantized values, and the layout checks.
@Suite("GGMLMatrix")
struct GGMLMatrixTests {
  /// Random blocks of `format`: random quant bytes, every f16 scale field finite (small
  /// positive `d`, `m`/`dmin` of either sign where the format has them).
  static func randomBlocks(_ format: GGMLMatrix.Format, rows: Int, cols: Int, seed: UInt64)
    -> [UInt8]
  {
    var rng = PhiloxRNG(seed: seed)
    let count = rows * format.rowByteCount(cols)
    var bytes = (0..<count).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
    let blockBytes = format.rowByteCount(format.blockSize)
    func half(_ value: Float, at offset: Int) {
      let bits = ck_float_to_half(value)
      bytes[offset] = UInt8(bits & 0xFF)
      bytes[offset + 1] = UInt8(bits >> 8)
    }
    func uniform() -> Float { Float(rng.next() % 10_000) / 10_000 }
    for start in stride(from: 0, to: count, by: blockBytes) {
      switch format {
      case .q4_0, .q5_0, .q8_0: half(0.001 + 0.05 * uniform(), at: start)
      case .q4_1, .q5_1, .q4_K, .q5_K:
        half(0.001 + 0.05 * uniform(), at: start)
        half(0.1 * (uniform() - 0.5), at: start + 2)
      case .q6_K: half(0.001 + 0.01 * uniform(), at: start + 208)
      }
    }
    return bytes
  }

  /// The quantized activation's values (`d·q` per block), as the kernels see them.
  static func activationValues(_ format: GGMLMatrix.Format, _ bytes: [UInt8], cols: Int)
    -> [Double]
  {
    func half(_ offset: Int) -> Double {
      Double(ck_half_to_float(UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8))
    }
    var values: [Double] = []
    switch format {
    case .q4_0, .q5_0, .q8_0, .q4_1, .q5_1:
      let (size, header) = format == .q4_1 || format == .q5_1 ? (36, 4) : (34, 2)
      for block in 0..<cols / 32 {
        let d = half(block * size)
        for j in 0..<32 {
          values.append(d * Double(Int8(bitPattern: bytes[block * size + header + j])))
        }
      }
    case .q4_K, .q5_K, .q6_K:
      for block in 0..<cols / 256 {
        let base = block * 292
        let d = Double(
          Float(bitPattern: bytes[base..<base + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) }))
        for j in 0..<256 { values.append(d * Double(Int8(bitPattern: bytes[base + 4 + j]))) }
      }
    }
    return values
  }

  static func quantizedActivation(_ format: GGMLMatrix.Format, _ x: [Float]) -> [UInt8] {
    let type = ck_ggml_type(rawValue: format.ggmlType)
    var out = [UInt8](repeating: 0, count: ck_ggml_activation_bytes(type, x.count))
    out.withUnsafeMutableBytes { ck_ggml_quantize_activation(type, x, x.count, $0.baseAddress!) }
    return out
  }

  static let shapes = [(rows: 1, cols: 256), (rows: 7, cols: 512), (rows: 33, cols: 1_024)]

  @Test(arguments: GGMLMatrix.Format.allCases)
  func dotProductsOfEverySetMatchTheDequantizedSum(_ format: GGMLMatrix.Format) throws {
    let type = ck_ggml_type(rawValue: format.ggmlType)
    for (index, (rows, cols)) in Self.shapes.enumerated() {
      let bytes = Self.randomBlocks(format, rows: rows, cols: cols, seed: UInt64(10 + index))
      let matrix = try GGMLMatrix(format: format, rows: rows, cols: cols, bytes: bytes)
      let weights = matrix.dequantized().scalars
      let x = randomFloats(cols, seed: UInt64(20 + index), scale: 3)
      let xq = Self.quantizedActivation(format, x)
      let activation = Self.activationValues(format, xq, cols: cols)
      // q4_1 and q5_1 add m·s per block, with s = d·Σq rounded to f16: the same sum up to that
      // rounding.
      let blockBytes = format == .q4_1 ? 20 : 24
      let minimumTerms: [Double] =
        format == .q4_1 || format == .q5_1
        ? (0..<rows).map { row in
          (0..<cols / 32).reduce(0) { sum, block in
            let start = (row * cols / 32 + block) * blockBytes
            let w = bytes[start + 2..<start + 4]
            let m = Double(ck_half_to_float(UInt16(w.first!) | UInt16(w.last!) << 8))
            let s = xq[block * 36 + 2..<block * 36 + 4]
            return sum + abs(m * Double(ck_half_to_float(UInt16(s.first!) | UInt16(s.last!) << 8)))
          }
        } : [Double](repeating: 0, count: rows)
      var exact: [Double] = []
      var tolerances: [Double] = []
      for row in 0..<rows {
        var sum = 0.0
        var magnitude = 0.0
        for i in 0..<cols {
          let term = Double(weights[row * cols + i]) * activation[i]
          sum += term
          magnitude += abs(term)
        }
        exact.append(sum)
        // Tolerance: Float rounding of the block scales' products and of the sums (a few
        // 2⁻²⁴ of the terms' magnitude per block), and the f16 rounding of q8_1's s.
        tolerances.append(1e-5 * magnitude + minimumTerms[row] / 1024 + 1e-6)
      }
      func check(_ y: [Float], _ label: String) {
        for row in 0..<rows {
          #expect(
            abs(Double(y[row]) - exact[row]) <= tolerances[row],
            "\(format) \(label) [\(rows), \(cols)] row \(row): \(y[row]) vs \(exact[row])")
        }
      }
      for set in runnableInstructionSets {
        var y = [Float](repeating: .nan, count: rows)
        bytes.withUnsafeBytes { w in
          xq.withUnsafeBytes { a in
            ck_ggml_dot_rows_for(
              ck_isa(rawValue: UInt32(set.rawValue)), type, w.baseAddress!, a.baseAddress!, &y,
              rows, cols)
          }
        }
        check(y, "\(set)")
      }
      // One input row goes through the integer kernels, several through `sgemm` on the
      // quantized activations read back as Float: both are the same sums.
      check(matrix.linear(Tensor(x, shape: [1, cols])).scalars, "linear, one row")
      let many = matrix.linear(Tensor(Array((0..<8).map { _ in x }.joined()), shape: [8, cols]))
      for r in 0..<8 {
        check(Array(many.scalars[r * rows..<(r + 1) * rows]), "linear, row \(r) of 8")
      }
    }
  }

  /// Matrices whose rows go eight at a time through the kernels that read eight weight rows per
  /// pass, with rows left over, beside each row multiplied alone: the same bits, row for row,
  /// on every instruction set (the groups change only how exact integer sums are formed).
  @Test(arguments: GGMLMatrix.Format.allCases)
  func eightRowsAtATimeEqualEachRowAlone(_ format: GGMLMatrix.Format) {
    let type = ck_ggml_type(rawValue: format.ggmlType)
    for (index, (rows, cols)) in [(8, 256), (21, 768), (40, 2_048), (3, 512)].enumerated() {
      let bytes = Self.randomBlocks(format, rows: rows, cols: cols, seed: UInt64(40 + index))
      let stride = format.rowByteCount(cols)
      var x = randomFloats(cols, seed: UInt64(50 + index), scale: 2)
      // A few large values and exact zeros: blocks of very different scales, and empty ones.
      for i in Swift.stride(from: 0, to: cols, by: 37) { x[i] *= 40 }
      for i in Swift.stride(from: 5, to: min(cols, 96), by: 1) { x[i] = 0 }
      let xq = Self.quantizedActivation(format, x)
      for set in runnableInstructionSets {
        let isa = ck_isa(rawValue: UInt32(set.rawValue))
        var together = [Float](repeating: .nan, count: rows)
        var alone = [Float](repeating: .nan, count: rows)
        bytes.withUnsafeBytes { w in
          xq.withUnsafeBytes { a in
            ck_ggml_dot_rows_for(isa, type, w.baseAddress!, a.baseAddress!, &together, rows, cols)
            for row in 0..<rows {
              alone.withUnsafeMutableBufferPointer { y in
                ck_ggml_dot_rows_for(
                  isa, type, w.baseAddress! + row * stride, a.baseAddress!, y.baseAddress! + row,
                  1, cols)
              }
            }
          }
        }
        for row in 0..<rows {
          #expect(
            together[row].bitPattern == alone[row].bitPattern,
            "\(format) \(set) [\(rows), \(cols)] row \(row): \(together[row]) vs \(alone[row])")
        }
      }
    }
  }

  /// ggml's `quantize_row_q8_K_ref` written out: the value of largest magnitude sets
  /// `iscale = −127/max`, `q = min(127, nearest(iscale·x))`, `d = 1/iscale`, 16-sums.
  @Test func q8KActivationIsGGMLReference() {
    var x = randomFloats(512, seed: 5, scale: 2)
    x[300] = -7.5  // the largest magnitude is negative in the second block
    let bytes = Self.quantizedActivation(.q4_K, x)
    for block in 0..<2 {
      let values = Array(x[block * 256..<(block + 1) * 256])
      var (amax, max): (Float, Float) = (0, 0)
      for v in values where abs(v) > amax { (amax, max) = (abs(v), v) }
      let iscale = -127 / max
      let q = values.map { Int8(Swift.min(127, Int((iscale * $0).rounded(.toNearestOrEven)))) }
      let base = block * 292
      let d = Float(
        bitPattern: bytes[base..<base + 4].reversed().reduce(0) { $0 << 8 | UInt32($1) })
      #expect(d.bitPattern == (1 / iscale).bitPattern)
      #expect(bytes[base + 4..<base + 260].map { Int8(bitPattern: $0) } == q)
      for g in 0..<16 {
        let sum = Int16(bytes[base + 260 + 2 * g]) | Int16(bytes[base + 261 + 2 * g]) << 8
        #expect(Int(sum) == q[16 * g..<16 * g + 16].reduce(0) { $0 + Int($1) })
      }
    }
  }

  /// ggml's x86 `quantize_row_q8_0` and `quantize_row_q8_1` (the code llama.cpp runs on AVX2)
  /// written out: `d = max|x|/127` stored as f16, `q = nearest-even(x · (127/max|x|))`, and for
  /// q8_1 `s = f16(d·Σq)`. Half the blocks are random, half are a q4_0 row after RMSNorm (the
  /// multiples −8…7 of one step), whose ±4 multiples fall on or beside the ties ±63.5: there
  /// ggml's reference arithmetic (`roundf(x · (1/d))`) gives other quants, and the test checks
  /// that it sees such a block.
  @Test(arguments: [GGMLMatrix.Format.q4_0, .q8_0, .q4_1])
  func q8_0AndQ8_1ActivationsAreGGMLx86(_ format: GGMLMatrix.Format) {
    var x = randomFloats(32 * 64, seed: 6, scale: 2)
    var rng = PhiloxRNG(seed: 7)
    for block in stride(from: 1, to: 64, by: 2) {
      let step = Float(1 + rng.next() % 1_000_000) * 1e-7
      for j in 0..<32 { x[32 * block + j] = Float(Int(rng.next() % 16) - 8) * step }
      x[32 * block + 5] = -8 * step
    }
    let bytes = Self.quantizedActivation(format, x)
    let (size, header) = format == .q4_1 ? (36, 4) : (34, 2)
    var referenceDiffers = 0
    for block in 0..<64 {
      let values = x[block * 32..<(block + 1) * 32]
      let amax = values.map(abs).max()!
      let d = amax / 127
      let id = amax != 0 ? 127 / amax : 0
      let q = values.map { Int8(($0 * id).rounded(.toNearestOrEven)) }
      let reference = values.map { Int8(($0 * (1 / d)).rounded(.toNearestOrAwayFromZero)) }
      if reference != q { referenceDiffers += 1 }
      let base = block * size
      let storedD = UInt16(bytes[base]) | UInt16(bytes[base + 1]) << 8
      #expect(storedD == Float16(d).bitPattern, "block \(block)")
      #expect(
        bytes[base + header..<base + size].map { Int8(bitPattern: $0) } == q, "block \(block)")
      if format == .q4_1 {
        let storedS = UInt16(bytes[base + 2]) | UInt16(bytes[base + 3]) << 8
        #expect(storedS == Float16(Float(q.reduce(0) { $0 + Int($1) }) * d).bitPattern)
      }
    }
    #expect(referenceDiffers > 0)
  }

  @Test func halfConversionsRoundToNearestEven() {
    var rng = PhiloxRNG(seed: 9)
    for _ in 0..<20_000 {
      let value = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
      let ours = ck_float_to_half(value)
      if value.isNaN {
        #expect(Float16(bitPattern: ours).isNaN)
        continue
      }
      #expect(ours == Float16(value).bitPattern, "\(value)")
      #expect(ck_half_to_float(ours).bitPattern == Float(Float16(value)).bitPattern)
    }
    for value: Float in [0, -0, 65504, 65520, 6.1e-5, 5.96e-8, 2.98e-8, 1e-10] {
      #expect(ck_float_to_half(value) == Float16(value).bitPattern, "\(value)")
    }
  }

  @Test func badLayoutsAreRefused() {
    #expect(throws: GGMLMatrix.LayoutError.partialBlocks(format: .q4_K, cols: 128)) {
      try GGMLMatrix(format: .q4_K, rows: 2, cols: 128, bytes: [UInt8](repeating: 0, count: 144))
    }
    #expect(
      throws: GGMLMatrix.LayoutError.byteCount(
        format: .q4_0, rows: 2, cols: 64, expected: 72, found: 71)
    ) {
      try GGMLMatrix(format: .q4_0, rows: 2, cols: 64, bytes: [UInt8](repeating: 0, count: 71))
    }
    var bytes = Self.randomBlocks(.q6_K, rows: 3, cols: 256, seed: 1)
    bytes[210 * 2 + 209] = 0x7C  // the last row's d: +∞
    bytes[210 * 2 + 208] = 0x00
    #expect(throws: GGMLMatrix.LayoutError.nonFiniteScale(format: .q6_K, row: 2)) {
      try GGMLMatrix(format: .q6_K, rows: 3, cols: 256, bytes: bytes)
    }
  }
}
