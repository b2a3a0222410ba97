// A vectorised `exp` for the kernels: Foundation's `expf` is a call per element that the compiler
// cannot vectorise, and the kernels spend most of their non-GEMM time in it.

extension Kernels {
  /// `e^x` for eight lanes, Cephes-style: `x = n·ln2 + r` with `|r| ≤ ln2/2`, Cephes `expf`'s
  /// polynomial for `e^r` (relative error ≈ 1e-7 over the whole range), then `2^n` built from
  /// exponent bits in two halves so `n` may reach 128 without overflowing the bit field.
  /// Overflow gives `+∞`, results below the smallest normal `Float` flush to 0, NaN stays NaN.
  @inlinable @inline(__always)
  package static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Out-of-range lanes compute garbage that the two masks below replace: fixing the output
    // costs two selects where clamping the input and fixing the output would cost four.
    let result = expCore(x, wideExponent: true).replacing(with: .infinity, where: x .> 88.722_839)
    return result.replacing(with: 0, where: x .< -87.336_548)
  }

  /// `e^x` for lanes known to be at most about 0 (shifted logits, log-probabilities): as
  /// `exp(_:)` without the overflow check, and `2^n` from a single exponent field.
  @inlinable @inline(__always)
  package static func expOfNonPositive(_ x: SIMD8<Float>) -> SIMD8<Float> {
    expCore(x, wideExponent: false).replacing(with: 0, where: x .< -87.336_548)
  }

  /// The range reduction and polynomial, valid for `-87.34 ≤ x ≤ 88.73` (NaN in, NaN out);
  /// without `wideExponent`, only up to `x ≈ 88.0` (`n ≤ 127`).
  @inlinable @inline(__always)
  package static func expCore(_ x: SIMD8<Float>, wideExponent: Bool) -> SIMD8<Float> {
    // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick (valid for |n| < 2^22).
    let magic: Float = 12_582_912
    let shifted = x * 1.442_695_04 + magic
    let nf = shifted - magic
    let n = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- Int32(bitPattern: magic.bitPattern)
    // r = x − n·ln2 with ln2 split in two for an exact first product.
    var r = x.addingProduct(nf, SIMD8(repeating: -0.693_359_375))
    r = r.addingProduct(nf, SIMD8(repeating: 2.121_944_4e-4))
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = SIMD8(repeating: 1.398_199_950_7e-3).addingProduct(p, r)
    p = SIMD8(repeating: 8.333_451_907_3e-3).addingProduct(p, r)
    p = SIMD8(repeating: 4.166_579_589_4e-2).addingProduct(p, r)
    p = SIMD8(repeating: 1.666_666_545_9e-1).addingProduct(p, r)
    p = SIMD8(repeating: 5.000_000_120_1e-1).addingProduct(p, r)
    let y = (r + 1).addingProduct(p, r * r)
    if !wideExponent {
      return y * unsafeBitCast((n &+ 127) &<< 23, to: SIMD8<Float>.self)
    }
    let half = n &>> 1
    let rest = n &- half
    let scale1 = unsafeBitCast((half &+ 127) &<< 23, to: SIMD8<Float>.self)
    let scale2 = unsafeBitCast((rest &+ 127) &<< 23, to: SIMD8<Float>.self)
    return y * scale1 * scale2
  }

  /// `e^x` for one value, computed exactly as one lane of `exp(_: SIMD8<Float>)`.
  @inlinable @inline(__always)
  package static func exp(_ x: Float) -> Float {
    exp(SIMD8(repeating: x))[0]
  }

  /// Logistic sigmoid `1 / (1 + e^-x)` for eight lanes.
  @inlinable @inline(__always)
  package static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> {
    1 / (1 + exp(-x))
  }
}
