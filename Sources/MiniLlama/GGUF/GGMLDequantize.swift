/// ggml's block formats, dequantised value for value as `dequantize_row_*` in ggml's
/// `ggml-quants.c` does (and as the `gguf` Python package's `dequantize` does): the same
/// operations in the same order, each rounded to `Float`, so the results are bit-identical.
///
/// Layouts (little-endian, `d`/`m`/`dmin` are `Float16`; `QK_K` = 256):
/// - `q4_0` (18 bytes / 32): `d`, 16 bytes of nibbles; `x = (q − 8)·d`, low nibbles first.
/// - `q4_1` (20 / 32): `d`, `m`, 16 bytes of nibbles; `x = q·d + m`.
/// - `q5_0` (22 / 32): `d`, 32 high bits `qh`, 16 bytes of nibbles; `x = (q − 16)·d`.
/// - `q5_1` (24 / 32): `d`, `m`, `qh`, nibbles; `x = q·d + m`.
/// - `q2_K` (84 / 256): 16 scale bytes (4-bit scale, 4-bit min), 64 bytes of 2-bit values, `d`,
///   `dmin`.
/// - `q3_K` (110 / 256): 32 bytes of high bits, 64 bytes of 2-bit values, 12 bytes of 6-bit
///   scales, `d`.
/// - `q4_K` (144 / 256): `d`, `dmin`, 12 bytes of 6-bit scales and mins, 128 bytes of nibbles.
/// - `q5_K` (176 / 256): `d`, `dmin`, 12 scale bytes, 32 bytes of high bits, 128 of nibbles.
/// - `q6_K` (210 / 256): 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 `Int8` scales, `d`.
enum GGMLDequantize {
  static let qkK = 256

  @inline(__always)
  static func half(_ bytes: UnsafeRawBufferPointer, _ offset: Int) -> Float {
    Float(
      Float16(
        bitPattern: UInt16(
          littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self))))
  }

  /// Dequantises `output.count` values (whole blocks of `type`) from `bytes`.
  /// - Precondition: `bytes.count == type.rowByteCount(output.count)`.
  static func run(
    _ type: GGMLType, _ bytes: UnsafeRawBufferPointer, into y: UnsafeMutableBufferPointer<Float>
  ) {
    precondition(
      bytes.count == type.rowByteCount(y.count),
      "\(type.name) dequantize: \(y.count) values from \(bytes.count) bytes")
    let blocks = y.count / type.blockSize
    for block in 0..<blocks {
      let x = UnsafeRawBufferPointer(
        rebasing: bytes[(block * type.blockByteCount)..<((block + 1) * type.blockByteCount)])
      let out = UnsafeMutableBufferPointer(
        rebasing: y[(block * type.blockSize)..<((block + 1) * type.blockSize)])
      switch type {
      case .f32, .f16, .bf16, .q8_0:
        preconditionFailure("GGMLDequantize: \(type.name) is not a block format handled here")
      case .q4_0: q4_0(x, out)
      case .q4_1: q4_1(x, out)
      case .q5_0: q5_0(x, out)
      case .q5_1: q5_1(x, out)
      case .q2_K: q2_K(x, out)
      case .q3_K: q3_K(x, out)
      case .q4_K: q4_K(x, out)
      case .q5_K: q5_K(x, out)
      case .q6_K: q6_K(x, out)
      }
    }
  }

  static func q4_0(_ x: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = half(x, 0)
    for j in 0..<16 {
      let q = x[2 + j]
      y[j] = Float(Int32(q & 0x0F) - 8) * d
      y[j + 16] = Float(Int32(q >> 4) - 8) * d
    }
  }

  static func q4_1(_ x: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = half(x, 0)
    let m = half(x, 2)
    for j in 0..<16 {
      let q = x[4 + j]
      y[j] = Float(q & 0x0F) * d + m
      y[j + 16] = Float(q >> 4) * d + m
    }
  }

  static func q5_0(_ x: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = half(x, 0)
    let qh = UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
    for j in 0..<16 {
      let q = x[6 + j]
      let high0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
      let high1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
      y[j] = Float(Int32((q & 0x0F) | high0) - 16) * d
      y[j + 16] = Float(Int32((q >> 4) | high1) - 16) * d
    }
  }

  static func q5_1(_ x: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    let d = half(x, 0)
    let m = half(x, 2)
    let qh = UInt32(littleEndian: x.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
    for j in 0..<16 {
      let q = x[8 + j]
      let high0 = UInt8(truncatingIfNeeded: ((qh >> UInt32(j)) << 4) & 0x10)
      let high1 = UInt8(truncatingIfNeeded: (qh >> UInt32(j + 12)) & 0x10)
      y[j] = Float((q & 0x0F) | high0) * d + m
      y[j + 16] = Float((q >> 4) | high1) * d + m
    }
  }

  static func q2_K(_ x: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    // scales[16] at 0, qs[64] at 16, d at 80, dmin at 82.
    let d = half(x, 80)
    let dmin = half(x, 82)
    var index = 0
    var scale = 0
    for n in stride(from: 0, to: qkK, by: 128) {
      let q = 16 + n / 4
      for shift in stride(from: 0, to: 8, by: 2) {
        for half in 0..<2 {
          let sc = x[scale]
          scale += 1
          let dl = d * Float(sc & 0x0F)
          let ml = dmin * Float(sc >> 4)
          for l in 0..<16 {
            y[index] = dl * Float((x[q + 16 * half + l] >> UInt8(shift)) & 3) - ml
            index += 1
          }
        }
      }
    }
  }

  static func q3_K(_ x: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    // hmask[32] at 0, qs[64] at 32, scales[12] at 96, d at 108.
    let d = half(x, 108)
    let scales = unpackQ3Scales(x, at: 96)
    var index = 0
    var scale = 0
    var mask: UInt8 = 1
    for n in stride(from: 0, to: qkK, by: 128) {
      let q = 32 + n / 4
      for shift in stride(from: 0, to: 8, by: 2) {
        for half in 0..<2 {
          let dl = d * Float(Int32(scales[scale]) - 32)
          scale += 1
          for l in 0..<16 {
            let low = Int32((x[q + 16 * half + l] >> UInt8(shift)) & 3)
            let high: Int32 = x[16 * half + l] & mask != 0 ? 0 : 4
            y[index] = dl * Float(low - high)
            index += 1
          }
        }
        mask <<= 1
      }
    }
  }

  /// The sixteen 6-bit scales of a `q3_K` block, as ggml rearranges its 12 bytes.
  static func unpackQ3Scales(_ x: UnsafeRawBufferPointer, at offset: Int) -> [UInt8] {
    var aux = (0..<3).map {
      UInt32(littleEndian: x.loadUnaligned(fromByteOffset: offset + 4 * $0, as: UInt32.self))
    }
    let (kmask1, kmask2): (UInt32, UInt32) = (0x0303_0303, 0x0f0f_0f0f)
    let tmp = aux[2]
    aux.append(((aux[1] >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4))
    aux[2] = ((aux[0] >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4)
    aux[0] = (aux[0] & kmask2) | (((tmp >> 0) & kmask1) << 4)
    aux[1] = (aux[1] & kmask2) | (((tmp >> 2) & kmask1) << 4)
    return aux.flatMap { word in (0..<4).map { UInt8(truncatingIfNeeded: word >> (8 * $0)) } }
  }

  /// Scale and min `j` (0..<8) of a `q4_K`/`q5_K` block's 12 packed bytes (`get_scale_min_k4`).
  @inline(__always)
  static func scaleMin(_ j: Int, _ x: UnsafeRawBufferPointer, at offset: Int) -> (UInt8, UInt8) {
    let q = { x[offset + $0] }
    if j < 4 { return (q(j) & 63, q(j + 4) & 63) }
    return (
      (q(j + 4) & 0x0F) | ((q(j - 4) >> 6) << 4), (q(j + 4) >> 4) | ((q(j) >> 6) << 4)
    )
  }

  static func q4_K(_ x: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    // d at 0, dmin at 2, scales[12] at 4, qs[128] at 16.
    let d = half(x, 0)
    let dmin = half(x, 2)
    var index = 0
    for (pair, j) in stride(from: 0, to: qkK, by: 64).enumerated() {
      let (sc1, m1) = scaleMin(2 * pair, x, at: 4)
      let (sc2, m2) = scaleMin(2 * pair + 1, x, at: 4)
      let (d1, min1) = (d * Float(sc1), dmin * Float(m1))
      let (d2, min2) = (d * Float(sc2), dmin * Float(m2))
      let q = 16 + j / 2
      for l in 0..<32 {
        y[index + l] = d1 * Float(x[q + l] & 0x0F) - min1
        y[index + 32 + l] = d2 * Float(x[q + l] >> 4) - min2
      }
      index += 64
    }
  }

  static func q5_K(_ x: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    // d at 0, dmin at 2, scales[12] at 4, qh[32] at 16, qs[128] at 48.
    let d = half(x, 0)
    let dmin = half(x, 2)
    var index = 0
    var (u1, u2): (UInt8, UInt8) = (1, 2)
    for (pair, j) in stride(from: 0, to: qkK, by: 64).enumerated() {
      let (sc1, m1) = scaleMin(2 * pair, x, at: 4)
      let (sc2, m2) = scaleMin(2 * pair + 1, x, at: 4)
      let (d1, min1) = (d * Float(sc1), dmin * Float(m1))
      let (d2, min2) = (d * Float(sc2), dmin * Float(m2))
      let ql = 48 + j / 2
      for l in 0..<32 {
        let qh = x[16 + l]
        y[index + l] = d1 * Float((x[ql + l] & 0x0F) + (qh & u1 != 0 ? 16 : 0)) - min1
        y[index + 32 + l] = d2 * Float((x[ql + l] >> 4) + (qh & u2 != 0 ? 16 : 0)) - min2
      }
      index += 64
      u1 <<= 2
      u2 <<= 2
    }
  }

  static func q6_K(_ x: UnsafeRawBufferPointer, _ y: UnsafeMutableBufferPointer<Float>) {
    // ql[128] at 0, qh[64] at 128, scales[16] (Int8) at 192, d at 208.
    let d = half(x, 208)
    for n in 0..<2 {
      let (ql, qh, sc, out) = (64 * n, 128 + 32 * n, 192 + 8 * n, 128 * n)
      for l in 0..<32 {
        let s = l / 16
        let h = x[qh + l]
        let q1 = Int32((x[ql + l] & 0x0F) | ((h >> 0) & 3) << 4) - 32
        let q2 = Int32((x[ql + l + 32] & 0x0F) | ((h >> 2) & 3) << 4) - 32
        let q3 = Int32((x[ql + l] >> 4) | ((h >> 4) & 3) << 4) - 32
        let q4 = Int32((x[ql + l + 32] >> 4) | ((h >> 6) & 3) << 4) - 32
        let scale = { (k: Int) in d * Float(Int8(bitPattern: x[sc + s + k])) }
        y[out + l] = scale(0) * Float(q1)
        y[out + l + 32] = scale(2) * Float(q2)
        y[out + l + 64] = scale(4) * Float(q3)
        y[out + l + 96] = scale(6) * Float(q4)
      }
    }
  }
}
