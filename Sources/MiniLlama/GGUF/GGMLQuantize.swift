/// ggml's reference quantizers (`quantize_row_*_ref` in `ggml-quants.c`, what
/// `llama_model_quantize` runs without an importance matrix), written out in `Float` arithmetic
/// in ggml's order of operations so the blocks come out bit for bit as ggml's. Scales are
/// stored as `Float16` rounded to nearest even (`GGML_FP32_TO_FP16`).
enum GGMLQuantize {
  /// `nearest_int`: rounds to nearest, ties to even, through the `1.5·2²³` trick ggml uses.
  @inline(__always)
  static func nearestInt(_ value: Float) -> Int32 {
    let shifted = value + 12_582_912
    return Int32(bitPattern: shifted.bitPattern & 0x007F_FFFF) - 0x0040_0000
  }

  @inline(__always)
  static func storeHalf(
    _ value: Float, _ output: UnsafeMutableRawBufferPointer, at offset: Int
  ) {
    output.storeBytes(
      of: Float16(value).bitPattern.littleEndian, toByteOffset: offset, as: UInt16.self)
  }

  /// `(int8_t)(value)` clamped into `0...15`: ggml's truncation of a value that lies in
  /// `[0, 16.5]` for finite weights (the clamp only guards non-finite scales).
  @inline(__always)
  static func truncatedNibble(_ value: Float) -> UInt8 {
    guard value.isFinite else { return 0 }
    return UInt8(max(0, min(15, value.rounded(.towardZero))))
  }

  /// `(int8_t)(value)` clamped into `0...31`, as `truncatedNibble` for 5-bit values.
  @inline(__always)
  static func truncatedFiveBits(_ value: Float) -> UInt8 {
    guard value.isFinite else { return 0 }
    return UInt8(max(0, min(31, value.rounded(.towardZero))))
  }

  static func requireBlocks(
    _ name: String, _ values: UnsafeBufferPointer<Float>, _ output: UnsafeMutableRawBufferPointer,
    blockSize: Int, blockBytes: Int
  ) {
    precondition(
      values.count % blockSize == 0 && output.count == values.count / blockSize * blockBytes,
      "\(name): \(values.count) values into \(output.count) bytes")
  }

  // MARK: 32-value blocks

  /// `quantize_row_q4_0_ref`: per block of 32, the value of largest magnitude `max` (the first
  /// one), `d = max / −8`, `q = min(15, trunc(x·(1/d) + 8.5))`; the first 16 values in the low
  /// nibbles, the last 16 in the high ones.
  static func q4_0(_ values: UnsafeBufferPointer<Float>, into output: UnsafeMutableRawBufferPointer)
  {
    requireBlocks("q4_0", values, output, blockSize: 32, blockBytes: 18)
    for block in 0..<values.count / 32 {
      let x = block * 32
      let base = block * 18
      var amax: Float = 0
      var maxValue: Float = 0
      for j in 0..<32 where amax < abs(values[x + j]) {
        amax = abs(values[x + j])
        maxValue = values[x + j]
      }
      let d = maxValue / -8
      let id: Float = d != 0 ? 1 / d : 0
      storeHalf(d, output, at: base)
      for j in 0..<16 {
        let low = truncatedNibble(values[x + j] * id + 8.5)
        let high = truncatedNibble(values[x + 16 + j] * id + 8.5)
        output[base + 2 + j] = low | high << 4
      }
    }
  }

  /// `quantize_row_q4_1_ref`: per block of 32, `d = (max − min) / 15`, `m = min`,
  /// `q = min(15, trunc((x − min)·(1/d) + 0.5))`.
  static func q4_1(_ values: UnsafeBufferPointer<Float>, into output: UnsafeMutableRawBufferPointer)
  {
    requireBlocks("q4_1", values, output, blockSize: 32, blockBytes: 20)
    for block in 0..<values.count / 32 {
      let x = block * 32
      let base = block * 20
      var minValue = Float.greatestFiniteMagnitude
      var maxValue = -Float.greatestFiniteMagnitude
      for j in 0..<32 {
        let v = values[x + j]
        if v < minValue { minValue = v }
        if v > maxValue { maxValue = v }
      }
      let d = (maxValue - minValue) / 15
      let id: Float = d != 0 ? 1 / d : 0
      storeHalf(d, output, at: base)
      storeHalf(minValue, output, at: base + 2)
      for j in 0..<16 {
        let low = truncatedNibble((values[x + j] - minValue) * id + 0.5)
        let high = truncatedNibble((values[x + 16 + j] - minValue) * id + 0.5)
        output[base + 4 + j] = low | high << 4
      }
    }
  }

  /// `quantize_row_q5_0_ref`: as q4_0 with `d = max / −16`, 5-bit values `trunc(x·(1/d) + 16.5)`,
  /// the fifth bits gathered in a little-endian `UInt32` after the scale.
  static func q5_0(_ values: UnsafeBufferPointer<Float>, into output: UnsafeMutableRawBufferPointer)
  {
    requireBlocks("q5_0", values, output, blockSize: 32, blockBytes: 22)
    for block in 0..<values.count / 32 {
      let x = block * 32
      let base = block * 22
      var amax: Float = 0
      var maxValue: Float = 0
      for j in 0..<32 where amax < abs(values[x + j]) {
        amax = abs(values[x + j])
        maxValue = values[x + j]
      }
      let d = maxValue / -16
      let id: Float = d != 0 ? 1 / d : 0
      storeHalf(d, output, at: base)
      var qh: UInt32 = 0
      for j in 0..<16 {
        let q0 = truncatedFiveBits(values[x + j] * id + 16.5)
        let q1 = truncatedFiveBits(values[x + 16 + j] * id + 16.5)
        output[base + 6 + j] = (q0 & 0x0F) | (q1 & 0x0F) << 4
        qh |= UInt32(q0 >> 4) << j
        qh |= UInt32(q1 >> 4) << (j + 16)
      }
      output.storeBytes(of: qh.littleEndian, toByteOffset: base + 2, as: UInt32.self)
    }
  }

  // MARK: 256-value super-blocks

  /// `make_qkx2_quants`: a scale and a minimum for `x` (values `0...nmax`) minimising the
  /// `weights`-weighted squared error over a scan of `nstep + 1` candidate scales.
  /// Returns the scale and `−min`, and leaves the levels in `levels`.
  static func makeQKX2Quants(
    _ x: UnsafeBufferPointer<Float>, nmax: Int32, weights: UnsafeBufferPointer<Float>,
    levels: UnsafeMutableBufferPointer<UInt8>, scratch: UnsafeMutableBufferPointer<UInt8>,
    rmin: Float, rdelta: Float, nstep: Int
  ) -> (scale: Float, negatedMin: Float) {
    let n = x.count
    var minValue = x[0]
    var maxValue = x[0]
    var sumW = weights[0]
    var sumX = sumW * x[0]
    for i in 1..<n {
      if x[i] < minValue { minValue = x[i] }
      if x[i] > maxValue { maxValue = x[i] }
      let w = weights[i]
      sumW += w
      sumX += w * x[i]
    }
    if minValue > 0 { minValue = 0 }
    if maxValue == minValue {
      for i in 0..<n { levels[i] = 0 }
      return (0, -minValue)
    }
    let fmax = Float(nmax)
    var iscale = fmax / (maxValue - minValue)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
      let l = nearestInt(iscale * (x[i] - minValue))
      levels[i] = UInt8(max(0, min(nmax, l)))
      let diff = scale * Float(levels[i]) + minValue - x[i]
      bestError += weights[i] * (diff * diff)
    }
    if nstep < 1 { return (scale, -minValue) }
    for step in 0...nstep {
      iscale = (rmin + rdelta * Float(step) + fmax) / (maxValue - minValue)
      var sumL: Float = 0
      var sumL2: Float = 0
      var sumXL: Float = 0
      for i in 0..<n {
        let l = max(0, min(nmax, nearestInt(iscale * (x[i] - minValue))))
        scratch[i] = UInt8(l)
        let w = weights[i]
        let fl = Float(l)
        sumL += w * fl
        sumL2 += w * fl * fl
        sumXL += w * fl * x[i]
      }
      let determinant = sumW * sumL2 - sumL * sumL
      if determinant > 0 {
        var thisScale = (sumW * sumXL - sumX * sumL) / determinant
        var thisMin = (sumL2 * sumX - sumL * sumXL) / determinant
        if thisMin > 0 {
          thisMin = 0
          thisScale = sumXL / sumL2
        }
        var error: Float = 0
        for i in 0..<n {
          let diff = thisScale * Float(scratch[i]) + thisMin - x[i]
          error += weights[i] * (diff * diff)
        }
        if error < bestError {
          for i in 0..<n { levels[i] = scratch[i] }
          bestError = error
          scale = thisScale
          minValue = thisMin
        }
      }
    }
    return (scale, -minValue)
  }

  /// `make_qx_quants` with `rmse_type` 1 and no importance weights (weights `x²`): a signed
  /// scale for `x` (levels `−nmax..<nmax`, stored `+ nmax`), the best of 19 candidate scales.
  static func makeQXQuants(
    _ x: UnsafeBufferPointer<Float>, nmax: Int32, levels: UnsafeMutableBufferPointer<Int8>
  ) -> Float {
    let n = x.count
    var maxValue: Float = 0
    var amax: Float = 0
    for i in 0..<n where abs(x[i]) > amax {
      amax = abs(x[i])
      maxValue = x[i]
    }
    if amax < 1e-15 {
      for i in 0..<n { levels[i] = 0 }
      return 0
    }
    let fmax = Float(nmax)
    func clamped(_ l: Int32) -> Int32 { max(-nmax, min(nmax - 1, l)) }
    var iscale = -fmax / maxValue
    var sumLX: Float = 0
    var sumL2: Float = 0
    for i in 0..<n {
      let l = clamped(nearestInt(iscale * x[i]))
      levels[i] = Int8(l + nmax)
      let w = x[i] * x[i]
      let fl = Float(l)
      sumLX += w * x[i] * fl
      sumL2 += w * fl * fl
    }
    var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
    var best = scale * sumLX
    for step in -9...9 where step != 0 {
      iscale = -(fmax + 0.1 * Float(step)) / maxValue
      sumLX = 0
      sumL2 = 0
      for i in 0..<n {
        let l = clamped(nearestInt(iscale * x[i]))
        let w = x[i] * x[i]
        let fl = Float(l)
        sumLX += w * x[i] * fl
        sumL2 += w * fl * fl
      }
      if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
        for i in 0..<n { levels[i] = Int8(clamped(nearestInt(iscale * x[i])) + nmax) }
        scale = sumLX / sumL2
        best = scale * sumLX
      }
    }
    return scale
  }

  /// `quantize_row_q4_K_ref`: per super-block of 256, eight groups of 32 each get a scale and
  /// a minimum from `makeQKX2Quants` (weights `rms + |x|`), quantized to 6 bits against the
  /// largest (`d`, `dmin` as `Float16`), and the values re-quantized with those.
  static func q4_K(_ values: UnsafeBufferPointer<Float>, into output: UnsafeMutableRawBufferPointer)
  {
    requireBlocks("q4_K", values, output, blockSize: 256, blockBytes: 144)
    var levels = [UInt8](repeating: 0, count: 256)
    var scratch = [UInt8](repeating: 0, count: 32)
    var weights = [Float](repeating: 0, count: 32)
    var scales = [Float](repeating: 0, count: 8)
    var mins = [Float](repeating: 0, count: 8)
    for block in 0..<values.count / 256 {
      let x = UnsafeBufferPointer(rebasing: values[block * 256..<(block + 1) * 256])
      let base = block * 144
      var maxScale: Float = 0
      var maxMin: Float = 0
      for j in 0..<8 {
        let group = UnsafeBufferPointer(rebasing: x[32 * j..<32 * j + 32])
        var sumX2: Float = 0
        for l in 0..<32 { sumX2 += group[l] * group[l] }
        let averageX = (sumX2 / 32).squareRoot()
        for l in 0..<32 { weights[l] = averageX + abs(group[l]) }
        let (scale, negatedMin) = weights.withUnsafeBufferPointer { w in
          levels.withUnsafeMutableBufferPointer { levels in
            scratch.withUnsafeMutableBufferPointer { scratch in
              makeQKX2Quants(
                group, nmax: 15, weights: w,
                levels: UnsafeMutableBufferPointer(rebasing: levels[32 * j..<32 * j + 32]),
                scratch: scratch, rmin: -1, rdelta: 0.1, nstep: 20)
            }
          }
        }
        scales[j] = scale
        mins[j] = negatedMin
        if scale > maxScale { maxScale = scale }
        if negatedMin > maxMin { maxMin = negatedMin }
      }
      let inverseScale: Float = maxScale > 0 ? 63 / maxScale : 0
      let inverseMin: Float = maxMin > 0 ? 63 / maxMin : 0
      var packed = [UInt8](repeating: 0, count: 12)
      for j in 0..<8 {
        let ls = min(63, UInt8(truncatingIfNeeded: nearestInt(inverseScale * scales[j])))
        let lm = min(63, UInt8(truncatingIfNeeded: nearestInt(inverseMin * mins[j])))
        if j < 4 {
          packed[j] = ls
          packed[j + 4] = lm
        } else {
          packed[j + 4] = (ls & 0xF) | (lm & 0xF) << 4
          packed[j - 4] |= (ls >> 4) << 6
          packed[j] |= (lm >> 4) << 6
        }
      }
      let dHalf = Float16(maxScale / 63)
      let dminHalf = Float16(maxMin / 63)
      output.storeBytes(of: dHalf.bitPattern.littleEndian, toByteOffset: base, as: UInt16.self)
      output.storeBytes(
        of: dminHalf.bitPattern.littleEndian, toByteOffset: base + 2, as: UInt16.self)
      for j in 0..<12 { output[base + 4 + j] = packed[j] }
      for j in 0..<8 {
        let (sc, m) = scaleAndMinK4(j, packed)
        let d = Float(dHalf) * Float(sc)
        if d == 0 { continue }
        let dm = Float(dminHalf) * Float(m)
        for i in 0..<32 {
          let l = nearestInt((x[32 * j + i] + dm) / d)
          levels[32 * j + i] = UInt8(max(0, min(15, l)))
        }
      }
      for chunk in 0..<4 {
        for l in 0..<32 {
          output[base + 16 + 32 * chunk + l] =
            levels[64 * chunk + l] | levels[64 * chunk + l + 32] << 4
        }
      }
    }
  }

  /// `get_scale_min_k4`: the 6-bit scale and minimum of group `j` from the 12 packed bytes.
  static func scaleAndMinK4(_ j: Int, _ q: [UInt8]) -> (UInt8, UInt8) {
    if j < 4 { return (q[j] & 63, q[j + 4] & 63) }
    return ((q[j + 4] & 0xF) | (q[j - 4] >> 6) << 4, (q[j + 4] >> 4) | (q[j] >> 6) << 4)
  }

  /// `quantize_row_q6_K_ref`: per super-block of 256, sixteen groups of 16 each get a signed
  /// scale from `makeQXQuants` (levels −32..<32), the scales quantized to `Int8` against the
  /// one of largest magnitude (`d = max / −128` as `Float16`), and the values re-quantized.
  static func q6_K(_ values: UnsafeBufferPointer<Float>, into output: UnsafeMutableRawBufferPointer)
  {
    requireBlocks("q6_K", values, output, blockSize: 256, blockBytes: 210)
    var levels = [Int8](repeating: 0, count: 256)
    var scales = [Float](repeating: 0, count: 16)
    for block in 0..<values.count / 256 {
      let x = UnsafeBufferPointer(rebasing: values[block * 256..<(block + 1) * 256])
      let base = block * 210
      var maxScale: Float = 0
      var maxAbsScale: Float = 0
      for group in 0..<16 {
        let scale = levels.withUnsafeMutableBufferPointer { levels in
          makeQXQuants(
            UnsafeBufferPointer(rebasing: x[16 * group..<16 * group + 16]), nmax: 32,
            levels: UnsafeMutableBufferPointer(rebasing: levels[16 * group..<16 * group + 16]))
        }
        scales[group] = scale
        if abs(scale) > maxAbsScale {
          maxAbsScale = abs(scale)
          maxScale = scale
        }
      }
      if maxAbsScale < 1e-15 {
        for i in 0..<210 { output[base + i] = 0 }
        continue
      }
      let iscale = -128 / maxScale
      let dHalf = Float16(1 / iscale)
      output.storeBytes(
        of: dHalf.bitPattern.littleEndian, toByteOffset: base + 208, as: UInt16.self)
      var groupScales = [Int8](repeating: 0, count: 16)
      for group in 0..<16 {
        groupScales[group] = Int8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[group])))
        output[base + 192 + group] = UInt8(bitPattern: groupScales[group])
      }
      for group in 0..<16 {
        let d = Float(dHalf) * Float(groupScales[group])
        if d == 0 { continue }
        for i in 0..<16 {
          let l = nearestInt(x[16 * group + i] / d)
          levels[16 * group + i] = Int8(max(-32, min(31, l)) + 32)
        }
      }
      for half in 0..<2 {
        let l0 = 128 * half
        let ql = base + 64 * half
        let qh = base + 128 + 32 * half
        for l in 0..<32 {
          let q1 = UInt8(levels[l0 + l])
          let q2 = UInt8(levels[l0 + l + 32])
          let q3 = UInt8(levels[l0 + l + 64])
          let q4 = UInt8(levels[l0 + l + 96])
          output[ql + l] = (q1 & 0xF) | (q3 & 0xF) << 4
          output[ql + l + 32] = (q2 & 0xF) | (q4 & 0xF) << 4
          output[qh + l] = (q1 >> 4) | (q2 >> 4) << 2 | (q3 >> 4) << 4 | (q4 >> 4) << 6
        }
      }
    }
  }
}
