import Foundation
import MiniTensor
import TestSupport
import Testing

/// Shape of one attention test case: queries `[batch, sequence, queryHeads, headDim]`,
/// keys/values `[batch, kvLength, kvHeads, headDim]`.
struct AttentionCase: CustomTestStringConvertible, Sendable {
  var batch: Int
  var sequence: Int
  var kvLength: Int
  var queryHeads: Int
  var kvHeads: Int
  var headDim: Int

  var testDescription: String {
    "B\(batch) T\(sequence) S\(kvLength) Hq\(queryHeads) Hkv\(kvHeads) D\(headDim)"
  }
  var qCount: Int { batch * sequence * queryHeads * headDim }
  var kvCount: Int { batch * kvLength * kvHeads * headDim }
  var probsCount: Int { batch * queryHeads * sequence * kvLength }
}

/// Naive `softmax(Q·Kᵀ/√d + causal mask)·V` in Double; query `t` sits at position
/// `kvLength − sequence + t`. Returns the output and the probabilities.
func referenceAttention(_ q: [Double], _ k: [Double], _ v: [Double], _ c: AttentionCase)
  -> (output: [Double], probs: [Double])
{
  let (T, S, D) = (c.sequence, c.kvLength, c.headDim)
  let group = c.queryHeads / c.kvHeads
  var output = [Double](repeating: 0, count: c.qCount)
  var probs = [Double](repeating: 0, count: c.probsCount)
  let scale = 1 / Double(D).squareRoot()
  for b in 0..<c.batch {
    for h in 0..<c.queryHeads {
      let g = h / group
      for t in 0..<T {
        let visible = S - T + t + 1
        var scores = [Double](repeating: -.infinity, count: S)
        for j in 0..<visible {
          var s: Double = 0
          for d in 0..<D {
            s +=
              q[((b * T + t) * c.queryHeads + h) * D + d] * k[((b * S + j) * c.kvHeads + g) * D + d]
          }
          scores[j] = s * scale
        }
        let m = scores.max()!
        let e = scores.map { Foundation.exp($0 - m) }
        let total = e.reduce(0, +)
        for j in 0..<S {
          let p = e[j] / total
          probs[((b * c.queryHeads + h) * T + t) * S + j] = p
          for d in 0..<D {
            output[((b * T + t) * c.queryHeads + h) * D + d] +=
              p * v[((b * S + j) * c.kvHeads + g) * D + d]
          }
        }
      }
    }
  }
  return (output, probs)
}

/// Runs forward and backward for `c` with `dOut`, returning everything.
func runAttention(
  _ q: [Float], _ k: [Float], _ v: [Float], dOut: [Float], _ c: AttentionCase
) -> (output: [Float], probs: [Float], dq: [Float], dk: [Float], dv: [Float]) {
  let (qb, kb, vb) = (FloatBuffer(q), FloatBuffer(k), FloatBuffer(v))
  let out = FloatBuffer(repeating: .nan, count: c.qCount)
  let probs = FloatBuffer(repeating: .nan, count: c.probsCount)
  Kernels.attentionForward(
    q: qb.pointer, k: kb.pointer, v: vb.pointer, output: out.pointer, probs: probs.pointer,
    batch: c.batch, sequence: c.sequence, queryHeads: c.queryHeads, kvHeads: c.kvHeads,
    headDim: c.headDim, kvLength: c.kvLength)
  let dOutBuffer = FloatBuffer(dOut)
  // Gradients start as NaN: they must be overwritten, not accumulated.
  let dq = FloatBuffer(repeating: .nan, count: c.qCount)
  let dk = FloatBuffer(repeating: .nan, count: c.kvCount)
  let dv = FloatBuffer(repeating: .nan, count: c.kvCount)
  Kernels.attentionBackward(
    dOut: dOutBuffer.pointer, q: qb.pointer, k: kb.pointer, v: vb.pointer, probs: probs.pointer,
    dq: dq.pointer, dk: dk.pointer, dv: dv.pointer, batch: c.batch, sequence: c.sequence,
    queryHeads: c.queryHeads, kvHeads: c.kvHeads, headDim: c.headDim, kvLength: c.kvLength)
  return (out.array, probs.array, dq.array, dk.array, dv.array)
}

@Suite("Kernels attention")
struct KernelAttentionTests {
  static let cases = [
    AttentionCase(batch: 1, sequence: 1, kvLength: 1, queryHeads: 1, kvHeads: 1, headDim: 1),
    AttentionCase(batch: 1, sequence: 3, kvLength: 3, queryHeads: 2, kvHeads: 1, headDim: 5),
    AttentionCase(batch: 2, sequence: 5, kvLength: 5, queryHeads: 4, kvHeads: 2, headDim: 8),
    AttentionCase(batch: 1, sequence: 4, kvLength: 9, queryHeads: 3, kvHeads: 3, headDim: 7),
    AttentionCase(batch: 2, sequence: 17, kvLength: 17, queryHeads: 2, kvHeads: 1, headDim: 3),
    AttentionCase(batch: 3, sequence: 9, kvLength: 12, queryHeads: 6, kvHeads: 2, headDim: 17),
    // More than one 64-row causal block, with and without a cached prefix.
    AttentionCase(batch: 1, sequence: 70, kvLength: 75, queryHeads: 2, kvHeads: 1, headDim: 3),
    AttentionCase(batch: 1, sequence: 129, kvLength: 129, queryHeads: 1, kvHeads: 1, headDim: 2),
  ]

  @Test(arguments: cases)
  func forwardMatchesNaiveAttention(_ c: AttentionCase) {
    let q = randomFloats(c.qCount, seed: 51)
    let k = randomFloats(c.kvCount, seed: 52)
    let v = randomFloats(c.kvCount, seed: 53)
    let result = runAttention(q, k, v, dOut: [Float](repeating: 0, count: c.qCount), c)
    let expected = referenceAttention(
      q.map(Double.init), k.map(Double.init), v.map(Double.init), c)
    // sgemm in Float over ≤ 17 terms plus the softmax: ~1e-6 relative.
    expectClose(result.output, expected.output.map(Float.init), rtol: 1e-5, atol: 1e-6, "output")
    expectClose(result.probs, expected.probs.map(Float.init), rtol: 1e-5, atol: 1e-7, "probs")
  }

  @Test(arguments: cases)
  func backwardMatchesCentralDifferences(_ c: AttentionCase) {
    let q = randomFloats(c.qCount, seed: 54)
    let k = randomFloats(c.kvCount, seed: 55)
    let v = randomFloats(c.kvCount, seed: 56)
    let w = randomFloats(c.qCount, seed: 57)
    let result = runAttention(q, k, v, dOut: w, c)
    let (qd, kd, vd) = (q.map(Double.init), k.map(Double.init), v.map(Double.init))
    let numericQ = centralDifference(
      of: { weightedSum(referenceAttention($0, kd, vd, c).output, w) }, at: qd)
    let numericK = centralDifference(
      of: { weightedSum(referenceAttention(qd, $0, vd, c).output, w) }, at: kd)
    let numericV = centralDifference(
      of: { weightedSum(referenceAttention(qd, kd, $0, c).output, w) }, at: vd)
    // Float GEMMs and softmax backward against Double differences (error ~1e-9).
    expectClose(result.dq, numericQ, rtol: 1e-4, atol: 1e-5, "dq")
    expectClose(result.dk, numericK, rtol: 1e-4, atol: 1e-5, "dk")
    expectClose(result.dv, numericV, rtol: 1e-4, atol: 1e-5, "dv")
  }

  @Test func decodeAndPrefillAgainstACacheMatchTheReference() {
    let (batch, maxPositions, queryHeads, kvHeads, headDim) = (2, 20, 6, 2, 12)
    let (start, sequence) = (5, 4)
    let length = start + sequence
    let cacheCount = batch * maxPositions * kvHeads * headDim
    let kCache = FloatBuffer(randomFloats(cacheCount, seed: 58))
    let vCache = FloatBuffer(randomFloats(cacheCount, seed: 59))
    let qValues = randomFloats(batch * sequence * queryHeads * headDim, seed: 60)
    let q = FloatBuffer(qValues)
    let output = FloatBuffer(repeating: .nan, count: qValues.count)
    let scratch = FloatBuffer(zeros: batch * queryHeads * sequence * length)
    Kernels.attentionPrefill(
      q: q.pointer, kCache: kCache.pointer, vCache: vCache.pointer, output: output.pointer,
      scratch: scratch.pointer, batch: batch, sequence: sequence, startPosition: start,
      maxPositions: maxPositions, queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim)

    let perBatchCache = maxPositions * kvHeads * headDim
    let perBatchQ = sequence * queryHeads * headDim
    let c = AttentionCase(
      batch: 1, sequence: sequence, kvLength: length, queryHeads: queryHeads, kvHeads: kvHeads,
      headDim: headDim)
    for b in 0..<batch {
      let k = Array(kCache.doubles[(b * perBatchCache)..<(b * perBatchCache + c.kvCount)])
      let v = Array(vCache.doubles[(b * perBatchCache)..<(b * perBatchCache + c.kvCount)])
      let qb = Array(qValues[(b * perBatchQ)..<((b + 1) * perBatchQ)]).map(Double.init)
      let expected = referenceAttention(qb, k, v, c).output.map(Float.init)
      let actual = Array(output.array[(b * perBatchQ)..<((b + 1) * perBatchQ)])
      expectClose(actual, expected, rtol: 1e-5, atol: 1e-6, "prefill batch \(b)")

      // Decoding the last token alone against the cache gives the prefill's last row.
      let lastQ = FloatBuffer(
        Array(qValues[(b * perBatchQ + perBatchQ - queryHeads * headDim)..<((b + 1) * perBatchQ)]))
      let decoded = FloatBuffer(repeating: .nan, count: queryHeads * headDim)
      let decodeScratch = FloatBuffer(zeros: queryHeads * length)
      Kernels.attentionDecode(
        q: lastQ.pointer, kCache: kCache.pointer + b * perBatchCache,
        vCache: vCache.pointer + b * perBatchCache, length: length, output: decoded.pointer,
        scratch: decodeScratch.pointer, queryHeads: queryHeads, kvHeads: kvHeads,
        headDim: headDim)
      expectClose(
        decoded.array, Array(expected.suffix(queryHeads * headDim)), rtol: 1e-5, atol: 1e-6,
        "decode batch \(b)")
    }
  }

  @Test(
    "attentionDecodeBatch: each sequence's output is attentionDecode's bits for it alone",
    arguments: [1, 2, 8])
  func batchedDecodeEqualsOneSequence(threads: Int) {
    let (queryHeads, kvHeads, headDim) = (8, 4, 64)
    let lengths = [1, 37, 5, 300, 64, 2, 129]
    let capacities = lengths.map { $0 + 3 }
    let row = kvHeads * headDim
    let keys = lengths.indices.map {
      FloatBuffer(randomFloats(capacities[$0] * row, seed: 70 + UInt64($0)))
    }
    let values = lengths.indices.map {
      FloatBuffer(randomFloats(capacities[$0] * row, seed: 90 + UInt64($0)))
    }
    let width = queryHeads * headDim
    let qValues = randomFloats(lengths.count * width, seed: 77)
    let q = FloatBuffer(qValues)
    let output = FloatBuffer(repeating: .nan, count: qValues.count)
    withThreadCount(threads) {
      Kernels.attentionDecodeBatch(
        q: q.pointer, kCaches: keys.map { UnsafePointer($0.pointer) },
        vCaches: values.map { UnsafePointer($0.pointer) }, lengths: lengths,
        output: output.pointer, queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim)
    }
    for (s, length) in lengths.enumerated() {
      let alone = FloatBuffer(repeating: .nan, count: width)
      let scratch = FloatBuffer(zeros: queryHeads * length)
      Kernels.attentionDecode(
        q: q.pointer + s * width, kCache: keys[s].pointer, vCache: values[s].pointer,
        length: length, output: alone.pointer, scratch: scratch.pointer,
        queryHeads: queryHeads, kvHeads: kvHeads, headDim: headDim)
      #expect(
        Array(output.array[(s * width)..<((s + 1) * width)]).map(\.bitPattern)
          == alone.array.map(\.bitPattern), "sequence \(s) of length \(length)")
    }
  }
}
