#if canImport(Glibc)
  import Glibc
#endif

extension Kernels {
  /// Softmax over the last axis, stable (the row maximum is subtracted first).
  ///
  /// - Parameters:
  ///   - x: `[rows, cols]`.
  ///   - output: `[rows, cols]`, may alias `x`.
  package static func softmaxForward(
    x: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    precondition(rows >= 0 && cols > 0, "softmaxForward: rows \(rows), cols \(cols)")
    parallelFor(rows, grain: rowGrain(width: 3 * cols)) { range in
      for r in range { softmaxRow(x + r * cols, output + r * cols, cols) }
    }
  }

  /// Softmax backward: `dx = y ⊙ (dy − Σ dy⊙y)` per row.
  ///
  /// - Parameters:
  ///   - dy: upstream gradient `[rows, cols]`.
  ///   - y: the forward output `[rows, cols]`.
  ///   - dx: `[rows, cols]`, overwritten (may alias `dy`).
  package static func softmaxBackward(
    dy: UnsafePointer<Float>, y: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    rows: Int, cols: Int
  ) {
    precondition(rows >= 0 && cols > 0, "softmaxBackward: rows \(rows), cols \(cols)")
    parallelFor(rows, grain: rowGrain(width: 2 * cols)) { range in
      for r in range {
        softmaxBackwardRow(dy + r * cols, y + r * cols, dx + r * cols, cols, scale: 1)
      }
    }
  }

  /// Log-softmax over the last axis: `y = x − max − log Σ e^(x − max)`.
  ///
  /// - Parameters:
  ///   - x: `[rows, cols]`.
  ///   - output: `[rows, cols]`, may alias `x`.
  package static func logSoftmaxForward(
    x: UnsafePointer<Float>, output: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    precondition(rows >= 0 && cols > 0, "logSoftmaxForward: rows \(rows), cols \(cols)")
    parallelFor(rows, grain: rowGrain(width: 3 * cols)) { range in
      for r in range {
        let xr = x + r * cols
        let yr = output + r * cols
        let lse = Float(logSumExp(xr, cols))
        let shift = SIMD8<Float>(repeating: lse)
        var i = 0
        while i + 8 <= cols {
          store8(load8(xr + i) - shift, yr + i)
          i += 8
        }
        while i < cols {
          yr[i] = xr[i] - lse
          i += 1
        }
      }
    }
  }

  /// Log-softmax backward: `dx = dy − e^y · Σ dy` per row.
  ///
  /// - Parameters:
  ///   - dy: upstream gradient `[rows, cols]`.
  ///   - y: the forward output (log-probabilities) `[rows, cols]`.
  ///   - dx: `[rows, cols]`, overwritten (may alias `dy`).
  package static func logSoftmaxBackward(
    dy: UnsafePointer<Float>, y: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    rows: Int, cols: Int
  ) {
    precondition(rows >= 0 && cols > 0, "logSoftmaxBackward: rows \(rows), cols \(cols)")
    parallelFor(rows, grain: rowGrain(width: 3 * cols)) { range in
      for r in range {
        let dyr = dy + r * cols
        let yr = y + r * cols
        let dxr = dx + r * cols
        let total = SIMD8<Float>(repeating: Float(sum(dyr, cols)))
        var i = 0
        while i + 8 <= cols {
          store8(load8(dyr + i) - expOfNonPositive(load8(yr + i)) * total, dxr + i)
          i += 8
        }
        if i < cols {
          let n = cols - i
          let v = loadPartial8(dyr + i, n) - expOfNonPositive(loadPartial8(yr + i, n)) * total
          storePartial8(v, dxr + i, n)
        }
      }
    }
  }

  // MARK: - Row helpers shared with attention and cross-entropy

  /// `Σ p[i]` in `Float` lanes within blocks, `Double` across blocks.
  @inline(__always)
  static func sum(_ p: UnsafePointer<Float>, _ count: Int) -> Double {
    var total: Double = 0
    var start = 0
    while start < count {
      let end = min(start + floatBlock, count)
      var acc = SIMD8<Float>()
      var i = start
      while i + 8 <= end {
        acc += load8(p + i)
        i += 8
      }
      if i < end { acc += loadPartial8(p + i, end - i) }
      total += laneSum(acc)
      start = end
    }
    return total
  }

  /// Writes `e^(x[i] − shift)` to `out` (when given) and returns their sum, one block at a time.
  /// `shift` is at least every `x[i]` (a row maximum or log-sum-exp).
  @inline(__always)
  static func expShiftedSum(
    _ x: UnsafePointer<Float>, _ count: Int, shift: Float, into out: UnsafeMutablePointer<Float>?
  ) -> Double {
    let sv = SIMD8<Float>(repeating: shift)
    var total: Double = 0
    var start = 0
    while start < count {
      let end = min(start + floatBlock, count)
      var acc = SIMD8<Float>()
      var i = start
      while i + 8 <= end {
        let e = expOfNonPositive(load8(x + i) - sv)
        if let out { store8(e, out + i) }
        acc += e
        i += 8
      }
      if i < end {
        let n = end - i
        let e = expOfNonPositive(loadPartial8(x + i, n, fill: -.infinity) - sv)
        if let out { storePartial8(e, out + i, n) }
        acc += e
      }
      total += laneSum(acc)
      start = end
    }
    return total
  }

  /// `log Σ e^x[i]` in one pass over memory: each block's maximum is found while the block is
  /// in cache, and the running sum is rescaled when the maximum grows (online log-sum-exp).
  @inline(__always)
  static func logSumExp(_ x: UnsafePointer<Float>, _ count: Int) -> Double {
    var runningMax = -Float.infinity
    var total: Double = 0
    var start = 0
    while start < count {
      let n = min(floatBlock, count - start)
      let blockMax = maxElement(x + start, n)
      if blockMax > runningMax {
        if total > 0 { total *= Glibc.exp(Double(runningMax) - Double(blockMax)) }
        runningMax = blockMax
      }
      if runningMax > -.infinity {
        total += expShiftedSum(x + start, n, shift: runningMax, into: nil)
      } else {
        // Only −∞ and NaN so far: the maximum skips NaN, so look for it here (rarely runs).
        for i in start..<(start + n) where x[i].isNaN { return .nan }
      }
      start += n
    }
    return Double(runningMax) + Glibc.log(total)
  }

  /// Stable softmax of one row of `count` elements (`y` may alias `x`).
  @inline(__always)
  static func softmaxRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ count: Int)
  {
    let m = maxElement(x, count)
    let total = expShiftedSum(x, count, shift: m, into: y)
    scale(y, count, by: Float(1 / total))
  }

  /// `p[i] *= factor`.
  @inline(__always)
  static func scale(_ p: UnsafeMutablePointer<Float>, _ count: Int, by factor: Float) {
    let fv = SIMD8<Float>(repeating: factor)
    var i = 0
    while i + 8 <= count {
      store8(load8(p + i) * fv, p + i)
      i += 8
    }
    while i < count {
      p[i] *= factor
      i += 1
    }
  }

  /// `dx = scale · y ⊙ (dy − Σ dy⊙y)` for one row (`dx` may alias `dy`).
  @inline(__always)
  static func softmaxBackwardRow(
    _ dy: UnsafePointer<Float>, _ y: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>,
    _ count: Int, scale: Float
  ) {
    let inner = SIMD8<Float>(repeating: Float(dot(dy, y, count)))
    let sv = SIMD8<Float>(repeating: scale)
    var i = 0
    while i + 8 <= count {
      let yv = load8(y + i)
      store8(yv * (load8(dy + i) - inner) * sv, dx + i)
      i += 8
    }
    if i < count {
      let n = count - i
      let yv = loadPartial8(y + i, n)
      storePartial8(yv * (loadPartial8(dy + i, n) - inner) * sv, dx + i, n)
    }
  }
}
