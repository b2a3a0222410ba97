import Foundation
import MiniTensor
import TestSupport
import Testing

/// Direct `rotate_half` RoPE in Double on `[batch, sequence, heads, headDim]`:
/// `out = x·cos(emb) + rotate_half(x)·sin(emb)`, `emb = cat(freqs, freqs)`,
/// `freqs = position · invFreq` (the product rounded to Float as in `transformers`).
func referenceRoPE(
  _ x: [Double], inverseFrequencies inv: [Float], batch: Int, sequence: Int, heads: Int,
  headDim: Int, startPosition: Int
) -> [Double] {
  let half = headDim / 2
  var out = x
  for b in 0..<batch {
    for t in 0..<sequence {
      let position = Float(startPosition + t)
      for h in 0..<heads {
        let base = ((b * sequence + t) * heads + h) * headDim
        for i in 0..<headDim {
          let angle = Double(position * inv[i % half])
          let rotated = i < half ? -x[base + i + half] : x[base + i - half]
          out[base + i] = x[base + i] * Foundation.cos(angle) + rotated * Foundation.sin(angle)
        }
      }
    }
  }
  return out
}

/// `transformers`' `_compute_default_rope_parameters` transcribed in Double.
func referenceInverseFrequencies(headDim: Int, theta: Double) -> [Double] {
  stride(from: 0, to: headDim, by: 2).map {
    1 / Foundation.pow(theta, Double($0) / Double(headDim))
  }
}

/// `transformers`' `_compute_llama3_parameters` transcribed in Double.
func referenceLlama3(
  headDim: Int, theta: Double, factor: Double, low: Double, high: Double, original: Double
) -> [Double] {
  let lowFreqWavelen = original / low
  let highFreqWavelen = original / high
  return referenceInverseFrequencies(headDim: headDim, theta: theta).map { inv in
    let wavelen = 2 * Double.pi / inv
    let scaled = wavelen > lowFreqWavelen ? inv / factor : inv
    let smooth = (original / wavelen - low) / (high - low)
    let smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    let isMedium = !(wavelen < highFreqWavelen) && !(wavelen > lowFreqWavelen)
    return isMedium ? smoothed : scaled
  }
}

@Suite("Kernels RoPE")
struct KernelRoPETests {
  static let shapes = [(1, 1, 1, 2), (2, 3, 1, 6), (1, 17, 3, 16), (3, 5, 2, 34), (1, 9, 4, 128)]

  @Test(arguments: shapes)
  func forwardMatchesRotateHalf(batch: Int, sequence: Int, heads: Int, headDim: Int) {
    let start = 7
    let table = RopeTable(headDim: headDim, maxPositions: start + sequence + 3, theta: 10_000)
    let values = randomFloats(batch * sequence * heads * headDim, seed: 11)
    let x = FloatBuffer(values)
    Kernels.ropeForward(
      x.pointer, table: table, batch: batch, sequence: sequence, heads: heads, headDim: headDim,
      startPosition: start)
    let expected = referenceRoPE(
      values.map(Double.init), inverseFrequencies: table.inverseFrequencies, batch: batch,
      sequence: sequence, heads: heads, headDim: headDim, startPosition: start)
    // Float rotation of |x| ≲ 4 values with tables rounded from Double: a few ulps.
    expectClose(x.array, expected.map(Float.init), rtol: 1e-6, atol: 2e-6)
  }

  @Test(arguments: shapes)
  func backwardMatchesCentralDifferences(batch: Int, sequence: Int, heads: Int, headDim: Int) {
    let start = 2
    let table = RopeTable(
      headDim: headDim, maxPositions: start + sequence, theta: 500_000,
      scaling: .linear(factor: 2))
    let count = batch * sequence * heads * headDim
    let values = randomFloats(count, seed: 12)
    let w = randomFloats(count, seed: 13)
    let dx = FloatBuffer(w)
    Kernels.ropeBackward(
      dx.pointer, table: table, batch: batch, sequence: sequence, heads: heads, headDim: headDim,
      startPosition: start)
    let numeric = centralDifference(
      of: {
        weightedSum(
          referenceRoPE(
            $0, inverseFrequencies: table.inverseFrequencies, batch: batch, sequence: sequence,
            heads: heads, headDim: headDim, startPosition: start), w)
      }, at: values.map(Double.init))
    // Linear map: central differences are exact up to Double rounding (~1e-10).
    expectClose(dx.array, numeric, rtol: 1e-5, atol: 1e-5)
  }

  @Test func backwardUndoesForwardAndOffsetsMatchTheFullSequence() {
    let (batch, sequence, heads, headDim) = (2, 11, 3, 10)
    let table = RopeTable(headDim: headDim, maxPositions: 64, theta: 10_000)
    let values = randomFloats(batch * sequence * heads * headDim, seed: 14)
    let x = FloatBuffer(values)
    Kernels.ropeForward(
      x.pointer, table: table, batch: batch, sequence: sequence, heads: heads, headDim: headDim,
      startPosition: 20)
    #expect(x.array != values)
    Kernels.ropeBackward(
      x.pointer, table: table, batch: batch, sequence: sequence, heads: heads, headDim: headDim,
      startPosition: 20)
    expectClose(x.array, values, rtol: 1e-5, atol: 1e-6)

    // Rotating tokens 4..<11 from position 4 equals the tail of rotating all 11 from 0.
    let full = FloatBuffer(values)
    Kernels.ropeForward(
      full.pointer, table: table, batch: batch, sequence: sequence, heads: heads,
      headDim: headDim, startPosition: 0)
    let width = heads * headDim
    for b in 0..<batch {
      let tail = Array(values[(b * sequence + 4) * width..<(b + 1) * sequence * width])
      let part = FloatBuffer(tail)
      Kernels.ropeForward(
        part.pointer, table: table, batch: 1, sequence: sequence - 4, heads: heads,
        headDim: headDim, startPosition: 4)
      #expect(
        part.array == Array(full.array[(b * sequence + 4) * width..<(b + 1) * sequence * width]))
    }
  }

  @Test func defaultLinearAndDynamicFrequenciesFollowTransformers() {
    let headDim = 64
    let plain = RopeTable.inverseFrequencies(
      headDim: headDim, theta: 10_000, scaling: .none, sequenceLength: 0)
    let expected = referenceInverseFrequencies(headDim: headDim, theta: 10_000)
    expectClose(plain, expected.map(Float.init), rtol: 1e-6, atol: 0)
    let linear = RopeTable.inverseFrequencies(
      headDim: headDim, theta: 10_000, scaling: .linear(factor: 4), sequenceLength: 0)
    expectClose(linear, expected.map { Float($0 / 4) }, rtol: 1e-6, atol: 0)
    // Dynamic NTK changes nothing up to the original length, then grows the base.
    let dynamicShort = RopeTable.inverseFrequencies(
      headDim: headDim, theta: 10_000, scaling: .dynamicNTK(factor: 2, originalMaxPositions: 128),
      sequenceLength: 100)
    #expect(dynamicShort == plain)
    let dynamicLong = RopeTable.inverseFrequencies(
      headDim: headDim, theta: 10_000, scaling: .dynamicNTK(factor: 2, originalMaxPositions: 128),
      sequenceLength: 512)
    let grownBase =
      10_000 * Foundation.pow(2.0 * 512 / 128 - 1, Double(headDim) / Double(headDim - 2))
    expectClose(
      dynamicLong, referenceInverseFrequencies(headDim: headDim, theta: grownBase).map(Float.init),
      rtol: 1e-6, atol: 0)
  }

  @Test func llama3FrequenciesFollowTransformers() {
    let (headDim, theta) = (128, 500_000.0)
    let expected = referenceLlama3(
      headDim: headDim, theta: theta, factor: 8, low: 1, high: 4, original: 8192)
    let actual = RopeTable.inverseFrequencies(
      headDim: headDim, theta: Float(theta),
      scaling: .llama3(
        factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8192),
      sequenceLength: 0)
    // All three regimes occur, so the comparison covers each branch.
    let plain = referenceInverseFrequencies(headDim: headDim, theta: theta)
    let kept = zip(expected, plain).filter { $0 == $1 }.count
    let divided = zip(expected, plain).filter { abs($0 - $1 / 8) < 1e-15 * $1 }.count
    #expect(kept > 0 && divided > 0 && kept + divided < headDim / 2)
    // Float operations against the Double transcription: a few ulps.
    expectClose(actual, expected.map(Float.init), rtol: 2e-6, atol: 0)
  }

  @Test func tablesHoldRoundedCosineAndSineOfTheFloatAngle() {
    let table = RopeTable(headDim: 8, maxPositions: 300, theta: 10_000)
    for position in [0, 1, 299] {
      for i in 0..<4 {
        let angle = Double(Float(position) * table.inverseFrequencies[i])
        #expect(table.cos[position * 4 + i] == Float(Foundation.cos(angle)))
        #expect(table.sin[position * 4 + i] == Float(Foundation.sin(angle)))
      }
    }
  }
}
