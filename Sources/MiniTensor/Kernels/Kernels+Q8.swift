internal import CKernels

extension Kernels {
  /// Elements per q8_0 block: each run of 32 weights of a row shares one scale.
  package static let q8BlockSize = 32

  /// Quantizes `rows × cols` floats (row-major, `cols` a multiple of 32) to q8_0 as ggml does:
  /// per block of 32, `scale = max|x| / 127` and `q = round(x / scale)`.
  /// - Parameters:
  ///   - quants: `[rows, cols]`, overwritten.
  ///   - scales: `[rows, cols / 32]`, overwritten.
  package static func quantizeQ8(
    _ source: UnsafePointer<Float>, rows: Int, cols: Int, quants: UnsafeMutablePointer<Int8>,
    scales: UnsafeMutablePointer<Float>
  ) {
    precondition(cols % q8BlockSize == 0, "quantizeQ8: [\(rows), \(cols)], cols % 32 != 0")
    let blocks = rows * cols / q8BlockSize
    parallelFor(blocks, grain: rowGrain(width: q8BlockSize)) { range in
      for block in range {
        let x = source + block * q8BlockSize
        var largest: Float = 0
        for i in 0..<q8BlockSize { largest = max(largest, abs(x[i])) }
        let scale = largest / 127
        let inverse: Float = scale > 0 ? 1 / scale : 0
        scales[block] = scale
        let q = quants + block * q8BlockSize
        for i in 0..<q8BlockSize { q[i] = Int8((x[i] * inverse).rounded()) }
      }
    }
  }

  /// `y = W · x` for a q8_0 matrix `W` `[rows, cols]` and a vector `x` `[cols]`, as ggml
  /// computes it: `x` is quantized to q8_0 too and each block's product is an integer dot product
  /// (AVX2 `vpmaddubsw` where the CPU has it) times the two blocks' scales. The weights are read
  /// once (decode is bound by the bytes read); rows are split over threads.
  package static func q8MatrixVector(
    quants: UnsafePointer<Int8>, scales: UnsafePointer<Float>, x: UnsafePointer<Float>,
    y: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    precondition(cols % q8BlockSize == 0, "q8MatrixVector: [\(rows), \(cols)], cols % 32 != 0")
    let blocks = cols / q8BlockSize
    withUnsafeTemporaryAllocation(of: Int8.self, capacity: cols) { xQuants in
      withUnsafeTemporaryAllocation(of: Float.self, capacity: blocks) { xScales in
        let (xq, xd) = (xQuants.baseAddress!, xScales.baseAddress!)
        ck_q8_quantize(x, cols, xq, xd)
        parallelFor(rows, grain: max(1, parallelWork / max(cols, 1))) { range in
          ck_q8_dot_rows(
            quants + range.lowerBound * cols, scales + range.lowerBound * blocks, xq, xd,
            y + range.lowerBound, range.count, cols)
        }
      }
    }
  }

  /// Dequantizes rows `rowRange` of a q8_0 matrix `[rows, cols]` into `output`
  /// `[rowRange.count, cols]`.
  package static func dequantizeQ8(
    quants: UnsafePointer<Int8>, scales: UnsafePointer<Float>, cols: Int, rowRange: Range<Int>,
    output: UnsafeMutablePointer<Float>
  ) {
    let blocksPerRow = cols / q8BlockSize
    let first = rowRange.lowerBound * blocksPerRow
    let count = rowRange.count * blocksPerRow
    parallelFor(count, grain: rowGrain(width: 2 * q8BlockSize)) { range in
      for block in range {
        let scale = scales[first + block]
        let q = quants + (first + block) * q8BlockSize
        let out = output + block * q8BlockSize
        for i in 0..<q8BlockSize { out[i] = Float(q[i]) * scale }
      }
    }
  }
}
