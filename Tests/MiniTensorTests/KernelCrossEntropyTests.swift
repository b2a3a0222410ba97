import Foundation
import MiniTensor
import TestSupport
import Testing

/// Per-row cross-entropy in Double (0 for ignored rows).
func referenceCrossEntropy(
  _ logits: [Double], targets: [Int32], rows: Int, vocab: Int, ignoreIndex: Int32 = -100
) -> [Double] {
  (0..<rows).map { r in
    if targets[r] == ignoreIndex { return 0 }
    let row = logits[(r * vocab)..<((r + 1) * vocab)]
    let m = row.max()!
    let lse = m + Foundation.log(row.reduce(0) { $0 + Foundation.exp($1 - m) })
    return lse - logits[r * vocab + Int(targets[r])]
  }
}

@Suite("Kernels cross-entropy")
struct KernelCrossEntropyTests {
  static let shapes = [(1, 1), (1, 9), (3, 17), (17, 3), (2, 65), (5, 700)]

  static func targets(rows: Int, vocab: Int, ignoreEvery: Int = 0) -> [Int32] {
    (0..<rows).map { r in
      ignoreEvery > 0 && r % ignoreEvery == 1 ? -100 : Int32((r * 7 + 3) % vocab)
    }
  }

  @Test(arguments: shapes)
  func forwardMatchesDoubleReference(rows: Int, vocab: Int) {
    let logits = randomFloats(rows * vocab, seed: 41, scale: 4).map { $0 + 30 }
    let targets = Self.targets(rows: rows, vocab: vocab, ignoreEvery: 3)
    let x = FloatBuffer(logits)
    let lse = FloatBuffer(zeros: rows)
    let losses = FloatBuffer(zeros: rows)
    let (sum, counted) = targets.withUnsafeBufferPointer { t in
      Kernels.crossEntropyForward(
        logits: x.pointer, targets: t.baseAddress!, rows: rows, vocab: vocab,
        logSumExp: lse.pointer, losses: losses.pointer)
    }
    let expected = referenceCrossEntropy(
      logits.map(Double.init), targets: targets, rows: rows, vocab: vocab)
    // Losses are differences of numbers near 30–45: absolute error of a few ulp(45) ≈ 4e-6.
    expectClose(losses.array, expected.map(Float.init), rtol: 0, atol: 1e-5)
    #expect(counted == targets.filter { $0 != -100 }.count)
    #expect(abs(sum - expected.reduce(0, +)) < 1e-5 * Double(max(counted, 1)))
    for r in 0..<rows where targets[r] == -100 {
      #expect(losses.array[r] == 0)
    }
  }

  @Test(arguments: shapes)
  func backwardMatchesCentralDifferences(rows: Int, vocab: Int) {
    let logits = randomFloats(rows * vocab, seed: 42, scale: 2)
    let targets = Self.targets(rows: rows, vocab: vocab, ignoreEvery: 3)
    let x = FloatBuffer(logits)
    let lse = FloatBuffer(zeros: rows)
    let losses = FloatBuffer(zeros: rows)
    let dLogits = FloatBuffer(repeating: .nan, count: rows * vocab)  // must be overwritten
    let scale: Float = 0.37
    targets.withUnsafeBufferPointer { t in
      Kernels.crossEntropyForward(
        logits: x.pointer, targets: t.baseAddress!, rows: rows, vocab: vocab,
        logSumExp: lse.pointer, losses: losses.pointer)
      Kernels.crossEntropyBackward(
        logits: x.pointer, targets: t.baseAddress!, logSumExp: lse.pointer, rows: rows,
        vocab: vocab, scale: scale, dLogits: dLogits.pointer)
    }
    let numeric = centralDifference(
      of: {
        Double(scale)
          * referenceCrossEntropy($0, targets: targets, rows: rows, vocab: vocab).reduce(0, +)
      }, at: logits.map(Double.init))
    // Probabilities from a Float log-sum-exp: relative error ~1e-6 of entries ≤ scale.
    expectClose(dLogits.array, numeric, rtol: 1e-4, atol: 1e-6)
  }

  @Test func allIgnoredRowsAndInPlaceGradient() {
    let (rows, vocab) = (4, 33)
    let logits = randomFloats(rows * vocab, seed: 43)
    let x = FloatBuffer(logits)
    let lse = FloatBuffer(zeros: rows)
    let losses = FloatBuffer(repeating: 5, count: rows)
    let ignored = [Int32](repeating: 7, count: rows)
    let (sum, counted) = ignored.withUnsafeBufferPointer { t in
      Kernels.crossEntropyForward(
        logits: x.pointer, targets: t.baseAddress!, rows: rows, vocab: vocab, ignoreIndex: 7,
        logSumExp: lse.pointer, losses: losses.pointer)
    }
    #expect(sum == 0 && counted == 0)
    #expect(losses.array == [0, 0, 0, 0])
    ignored.withUnsafeBufferPointer { t in
      Kernels.crossEntropyBackward(
        logits: x.pointer, targets: t.baseAddress!, logSumExp: lse.pointer, rows: rows,
        vocab: vocab, ignoreIndex: 7, scale: 1, dLogits: x.pointer)
    }
    #expect(x.array.allSatisfy { $0 == 0 })

    // In place (dLogits aliasing logits) equals a separate output.
    let targets: [Int32] = [0, 32, -100, 5]
    let a = FloatBuffer(logits)
    let separate = FloatBuffer(zeros: rows * vocab)
    targets.withUnsafeBufferPointer { t in
      Kernels.crossEntropyForward(
        logits: a.pointer, targets: t.baseAddress!, rows: rows, vocab: vocab,
        logSumExp: lse.pointer, losses: losses.pointer)
      Kernels.crossEntropyBackward(
        logits: a.pointer, targets: t.baseAddress!, logSumExp: lse.pointer, rows: rows,
        vocab: vocab, scale: 0.5, dLogits: separate.pointer)
      Kernels.crossEntropyBackward(
        logits: a.pointer, targets: t.baseAddress!, logSumExp: lse.pointer, rows: rows,
        vocab: vocab, scale: 0.5, dLogits: a.pointer)
    }
    #expect(a.array == separate.array)
    // Each counted row of the gradient sums to zero (softmax − onehot).
    for r in [0, 1, 3] {
      let rowSum = separate.array[(r * vocab)..<((r + 1) * vocab)].reduce(0, +)
      #expect(abs(rowSum) < 1e-6)
    }
  }

  @Test func nonFiniteLogitsGiveNaNLosses() {
    // A NaN anywhere (even in a block of only NaN/−∞ before any finite logit) must surface.
    let vocab = 600
    var logits = [Float](repeating: 0.5, count: 3 * vocab)
    for i in 0..<300 { logits[i] = i % 2 == 0 ? .nan : -.infinity }  // row 0, first block
    logits[vocab + 450] = .nan  // row 1, late block
    let x = FloatBuffer(logits)
    let lse = FloatBuffer(zeros: 3)
    let losses = FloatBuffer(zeros: 3)
    let targets: [Int32] = [400, 2, 5]
    let (sum, counted) = targets.withUnsafeBufferPointer { t in
      Kernels.crossEntropyForward(
        logits: x.pointer, targets: t.baseAddress!, rows: 3, vocab: vocab,
        logSumExp: lse.pointer, losses: losses.pointer)
    }
    #expect(losses.array[0].isNaN && losses.array[1].isNaN)
    expectClose([losses.array[2]], [Float(Foundation.log(Double(vocab)))], rtol: 1e-6, atol: 0)
    #expect(sum.isNaN && counted == 3)
  }

  @Test func largeVocabularyOnePassMatchesReference() {
    // 64 793 (baby-llama2's vocabulary) spans many log-sum-exp blocks; the maximum sits late in
    // the row so the running sum must be rescaled.
    let (rows, vocab) = (2, 64_793)
    var logits = randomFloats(rows * vocab, seed: 44, scale: 3)
    logits[vocab - 5] = 25
    logits[vocab + 100] = 40
    let targets: [Int32] = [Int32(vocab - 5), 12_345]
    let x = FloatBuffer(logits)
    let lse = FloatBuffer(zeros: rows)
    let losses = FloatBuffer(zeros: rows)
    _ = targets.withUnsafeBufferPointer { t in
      Kernels.crossEntropyForward(
        logits: x.pointer, targets: t.baseAddress!, rows: rows, vocab: vocab,
        logSumExp: lse.pointer, losses: losses.pointer)
    }
    let expected = referenceCrossEntropy(
      logits.map(Double.init), targets: targets, rows: rows, vocab: vocab)
    expectClose(losses.array, expected.map(Float.init), rtol: 1e-6, atol: 1e-5)
  }

  @Test func targetOutsideTheVocabularyStopsBeforeAnyWork() async {
    await #expect(processExitsWith: .failure) {
      let logits = [Float](repeating: 0, count: 6)
      let targets: [Int32] = [1, 3]  // vocab is 3
      var lse = [Float](repeating: 0, count: 2)
      var losses = [Float](repeating: 0, count: 2)
      logits.withUnsafeBufferPointer { x in
        targets.withUnsafeBufferPointer { t in
          lse.withUnsafeMutableBufferPointer { l in
            losses.withUnsafeMutableBufferPointer { out in
              _ = Kernels.crossEntropyForward(
                logits: x.baseAddress!, targets: t.baseAddress!, rows: 2, vocab: 3,
                logSumExp: l.baseAddress!, losses: out.baseAddress!)
            }
          }
        }
      }
    }
  }
}
