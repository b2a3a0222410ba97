import CKernels
import MiniTensor
import TestSupport
import Testing

@Suite("q8_0 matrices and matrix-vector products")
struct Q8MatrixTests {
  static func reference(_ x: [Float], _ w: [Float], rows n: Int, out: Int, cols k: Int) -> [Float] {
    var y = [Float](repeating: 0, count: n * out)
    for r in 0..<n {
      for j in 0..<out {
        var s: Double = 0
        for i in 0..<k { s += Double(x[r * k + i]) * Double(w[j * k + i]) }
        y[r * out + j] = Float(s)
      }
    }
    return y
  }

  @Test(arguments: [(1, 32), (7, 64), (300, 96)])
  func roundTripErrorIsAtMostHalfAStep(rows: Int, cols: Int) {
    var rng = PhiloxRNG(seed: 3)
    let w = Tensor.randomNormal([rows, cols], using: &rng)
    let q = Q8Matrix(w)
    let back = q.dequantized().scalars
    let original = w.scalars
    #expect(q.byteCount == rows * cols + 4 * rows * cols / 32)
    for block in 0..<(rows * cols / 32) {
      let range = (block * 32)..<((block + 1) * 32)
      let largest = range.map { abs(original[$0]) }.max() ?? 0
      let step = largest / 127
      for i in range {
        // Rounding to the nearest multiple of the block's step: error ≤ step/2 (plus float slack).
        #expect(abs(back[i] - original[i]) <= step * 0.5 + 1e-6, "element \(i)")
      }
    }
  }

  /// ggml's q8_0 quantization of one row, written out for the tests: per block of 32,
  /// `d = max|x| / 127`, `q = round(x / d)`.
  static func quantizeRow(_ x: [Float]) -> (q: [Int8], d: [Float]) {
    var q: [Int8] = []
    var d: [Float] = []
    for start in stride(from: 0, to: x.count, by: 32) {
      let block = x[start..<start + 32]
      let scale = block.map(abs).max()! / 127
      d.append(scale)
      q += block.map { Int8(scale != 0 ? ($0 / scale).rounded() : 0) }
    }
    return (q, d)
  }

  @Test(arguments: [(200, 96), (7, 32), (33, 512)])
  func oneRowIsGGMLsIntegerDotProduct(out: Int, cols: Int) {
    var rng = PhiloxRNG(seed: 8)
    let w = Tensor.randomNormal([out, cols], using: &rng)
    let x = Tensor.randomNormal([1, cols], using: &rng)
    let q = Q8Matrix(w)
    let y = q.linear(x).scalars
    // The reference: both sides quantized, integer sums per block, scaled by both scales.
    let (wq, wd) = Self.quantizeRow(w.scalars)
    let (xq, xd) = Self.quantizeRow(x.scalars)
    let blocks = cols / 32
    var expected = [Float](repeating: 0, count: out)
    for r in 0..<out {
      var total: Double = 0
      for b in 0..<blocks {
        var sum = 0
        for i in 0..<32 { sum += Int(wq[r * cols + b * 32 + i]) * Int(xq[b * 32 + i]) }
        total += Double(wd[r * blocks + b]) * Double(xd[b]) * Double(sum)
      }
      expected[r] = Float(total)
    }
    expectClose(y, expected, rtol: 1e-5, atol: 1e-5)
    // And close to the float product: each rounding moves a value by at most half its block's
    // step, so |ŵ·x̂ − w·x| ≤ Σ |w|·dx/2 + |x̂|·dw/2 (plus float slack).
    let exact = Self.reference(x.scalars, w.scalars, rows: 1, out: out, cols: cols)
    let ws = w.scalars
    for r in 0..<out {
      var bound: Float = 1e-4
      for i in 0..<cols {
        let (b, dequantizedX) = (i / 32, Float(xq[i]) * xd[i / 32])
        bound += abs(ws[r * cols + i]) * xd[b] / 2 + abs(dequantizedX) * wd[r * blocks + b] / 2
      }
      #expect(abs(y[r] - exact[r]) <= bound, "row \(r): \(y[r]) vs \(exact[r]) (bound \(bound))")
    }
  }

  @Test(arguments: [3, 130])
  func linearMatchesTheDequantizedProduct(inputRows: Int) {
    var rng = PhiloxRNG(seed: 4)
    let (out, cols) = (200, 96)  // 200 rows: two weight panels, the second partial
    let w = Tensor.randomNormal([out, cols], using: &rng)
    let x = Tensor.randomNormal([inputRows, cols], using: &rng)
    let q = Q8Matrix(w)
    let y = q.linear(x)
    #expect(y.shape == [inputRows, out])
    // More than 64 rows take the int8 products where `prefillProducts()` chooses them (CPUs with
    // VNNI): every input row is then quantized to q8_0 first, as for one row.
    let variant = ck_gemm_active_variant()
    let int8 =
      inputRows > 64
      && (prefillProducts() == .int8
        || (prefillProducts() == .automatic
          && (variant == CK_GEMM_VNNI || variant == CK_GEMM_AVX_VNNI)))
    let rounded =
      int8
      ? (0..<inputRows).flatMap { row in
        var (xq, xd) = ([Int8](repeating: 0, count: cols), [Float](repeating: 0, count: cols / 32))
        ck_q8_quantize(Array(x.scalars[(row * cols)..<((row + 1) * cols)]), cols, &xq, &xd)
        return (0..<cols).map { Float(xq[$0]) * xd[$0 / 32] }
      } : x.scalars
    let expected = Self.reference(
      rounded, q.dequantized().scalars, rows: inputRows, out: out, cols: cols)
    // Same weights, different summation order: 1e-4 relative plus 1e-4 absolute.
    expectClose(y.scalars, expected, rtol: 1e-4, atol: 1e-4)
  }

  @Test func zeroBlocksStayZero() {
    let q = Q8Matrix(Tensor.zeros([2, 32]))
    #expect(q.dequantized().scalars.allSatisfy { $0 == 0 })
    #expect(q.linear(Tensor.ones([1, 32])).scalars == [0, 0])
  }

  @Test func onlyWidthsInWholeBlocksQuantize() {
    #expect(Q8Matrix.canQuantize([4, 64]))
    #expect(!Q8Matrix.canQuantize([4, 48]))
    #expect(!Q8Matrix.canQuantize([64]))
  }
}

@Suite("One-row products (matrix-vector path)")
struct OneRowMatmulTests {
  @Test(arguments: [(false, false), (false, true), (true, false), (true, true)])
  func oneRowProductsMatchTheLoops(transposeA: Bool, transposeB: Bool) {
    var rng = PhiloxRNG(seed: 5)
    let (k, n) = (37, 53)
    let aStored = Tensor.randomNormal(transposeA ? [k, 1] : [1, k], using: &rng)
    let bStored = Tensor.randomNormal(transposeB ? [n, k] : [k, n], using: &rng)
    let product = matmul(aStored, bStored, transposeA: transposeA, transposeB: transposeB)
    #expect(product.shape == [1, n])
    let a = aStored.scalars
    let b = bStored.scalars
    var expected = [Float](repeating: 0, count: n)
    for j in 0..<n {
      var s: Double = 0
      for i in 0..<k { s += Double(a[i]) * Double(transposeB ? b[j * k + i] : b[i * n + j]) }
      expected[j] = Float(s)
    }
    expectClose(product.scalars, expected, rtol: 1e-5, atol: 1e-5)
  }

  @Test func oneRowIntoExistingOutputAccumulates() {
    var rng = PhiloxRNG(seed: 6)
    let a = Tensor.randomNormal([1, 16], using: &rng)
    let b = Tensor.randomNormal([16, 8], using: &rng)
    var out = Tensor.ones([1, 8])
    matmul(a, b, into: &out, accumulate: true)
    let expected = (matmul(a, b) + Tensor.ones([1, 8])).scalars
    expectClose(out.scalars, expected, rtol: 1e-5, atol: 1e-5)
  }
}
