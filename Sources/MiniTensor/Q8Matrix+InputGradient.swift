extension Q8Matrix {
  /// `dy · W` for `dy` `[…, rows]`, result `[…, cols]`: the gradient of ``linear(_:)``'s input
  /// when the weight is frozen (a quantized base under low-rank adapters). The weight is
  /// dequantized one panel of rows at a time into a small buffer and each panel's product is
  /// added with `sgemm`, so the `Float` weight never exists whole.
  public func inputGradient(_ dy: Tensor) -> Tensor {
    precondition(
      dy.rank >= 1 && dy.shape[dy.rank - 1] == rows,
      "Q8Matrix.inputGradient: gradient \(dy.shape) with weight [\(rows), \(cols)]")
    let n = dy.count / max(rows, 1)
    let gradient = dy.contiguous()
    let outputShape = Array(dy.shape.dropLast()) + [cols]
    return Tensor(unsafeUninitializedShape: outputShape) { dx in
      guard let dxBase = dx.baseAddress else { return }
      if rows == 0 {
        dx.update(repeating: 0)
        return
      }
      gradient.withUnsafeBufferPointer { dy in
        quants.withUnsafeBufferPointer { quants in
          scales.withUnsafeBufferPointer { scales in
            let panel = UnsafeMutablePointer<Float>.allocate(capacity: Self.panelRows * cols)
            defer { panel.deallocate() }
            var start = 0
            while start < rows {
              let end = min(start + Self.panelRows, rows)
              Kernels.dequantizeQ8(
                quants: quants.baseAddress!, scales: scales.baseAddress!, cols: cols,
                rowRange: start..<end, output: panel)
              // dx[n, cols] (+)= dy[n, start..<end] · panel[end − start, cols]
              sgemm(
                transposeA: false, transposeB: false, m: n, n: cols, k: end - start,
                a: dy.baseAddress! + start, lda: rows, b: panel, ldb: cols,
                beta: start == 0 ? 0 : 1, c: dxBase, ldc: cols)
              start = end
            }
          }
        }
      }
    }
  }
}
