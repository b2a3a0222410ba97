/// Products of ggml blocks with `Float` activations, as QLoRA computes them over a quantized
/// base: the blocks dequantized a panel of rows at a time and multiplied by `sgemm`, never the
/// whole weight at once.
extension GGMLMatrix {
  /// The same blocks, whose ``linear(_:)`` keeps its input in `Float` (``floatLinear(_:)``)
  /// instead of quantizing it as llama.cpp does: the arithmetic of training on a frozen
  /// quantized base, where the forward and the reference must agree with the backward.
  public func computingInFloat() -> GGMLMatrix {
    var copy = self
    copy.computesInFloat = true
    return copy
  }

  /// `x · Wᵀ` for `x` `[…, cols]`, result `[…, rows]`: `x` as it is, the weight dequantized
  /// one panel of rows at a time (value for value as ``dequantized()``).
  public func floatLinear(_ x: Tensor) -> Tensor {
    precondition(
      x.rank >= 1 && x.shape[x.rank - 1] == cols,
      "GGMLMatrix.floatLinear: input \(x.shape) with weight [\(rows), \(cols)] \(format.rawValue)")
    let n = x.count / max(cols, 1)
    let input = x.contiguous()
    return Tensor(unsafeUninitializedShape: Array(x.shape.dropLast()) + [rows]) { y in
      guard n > 0 else { return }
      input.withUnsafeBufferPointer { x in
        forEachPanel { start, end, panel in
          sgemm(
            transposeA: false, transposeB: true, m: n, n: end - start, k: cols,
            a: x.baseAddress!, lda: cols, b: panel, ldb: cols, c: y.baseAddress! + start,
            ldc: rows)
        }
      }
    }
  }

  /// `dy · W` for `dy` `[…, rows]`, result `[…, cols]`: the gradient of ``floatLinear(_:)``
  /// with respect to its input (the weight is a constant).
  public func inputGradient(_ dy: Tensor) -> Tensor {
    precondition(
      dy.rank >= 1 && dy.shape[dy.rank - 1] == rows,
      "GGMLMatrix.inputGradient: gradient \(dy.shape) with weight [\(rows), \(cols)]")
    let n = dy.count / max(rows, 1)
    let gradient = dy.contiguous()
    return Tensor(unsafeUninitializedShape: Array(dy.shape.dropLast()) + [cols]) { dx in
      guard let dxBase = dx.baseAddress else { return }
      if rows == 0 || n == 0 {
        dx.update(repeating: 0)
        return
      }
      gradient.withUnsafeBufferPointer { dy in
        forEachPanel { start, end, panel in
          // dx[n, cols] (+)= dy[n, start..<end] · panel[end − start, cols]
          sgemm(
            transposeA: false, transposeB: false, m: n, n: cols, k: end - start,
            a: dy.baseAddress! + start, lda: rows, b: panel, ldb: cols,
            beta: start == 0 ? 0 : 1, c: dxBase, ldc: cols)
        }
      }
    }
  }

  /// Calls `body(start, end, panel)` for each panel of at most ``panelRows`` rows, dequantized.
  private func forEachPanel(
    _ body: (Int, Int, UnsafePointer<Float>) -> Void
  ) {
    let panel = UnsafeMutablePointer<Float>.allocate(capacity: Self.panelRows * cols)
    defer { panel.deallocate() }
    var start = 0
    while start < rows {
      let end = min(start + Self.panelRows, rows)
      dequantizeRows(start..<end, into: panel)
      body(start, end, panel)
      start = end
    }
  }
}
