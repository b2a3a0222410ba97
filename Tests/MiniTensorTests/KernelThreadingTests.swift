import Foundation
import MiniTensor
import TestSupport
import TestThreadSetting
import Testing

/// Runs `body` on one thread and on two, returning both results. Shapes are chosen above each
/// kernel's threshold so the two-thread run really splits the work.
func singleAndDualThreaded<R>(_ body: () -> R) -> (one: R, two: R) {
  (withThreadCount(1, body), withThreadCount(2, body))
}

/// Every kernel gives the same bits on one and on two threads: rows are independent and the
/// only cross-row sums (RMSNorm's `dweight`, cross-entropy's total, GQA's `dk`/`dv`) use a
/// summation order fixed by the shapes, not by the threads.
@Suite("Kernels threading", .serialized)
struct KernelThreadingTests {
  @Test func rmsNormSoftmaxAndSwiGLU() {
    let (rows, dim) = (300, 256)
    let x = FloatBuffer(randomFloats(rows * dim, seed: 71))
    let w = FloatBuffer(randomFloats(dim, seed: 72))
    let dy = FloatBuffer(randomFloats(rows * dim, seed: 73))
    let results = singleAndDualThreaded { () -> [[Float]] in
      let y = FloatBuffer(zeros: rows * dim)
      let rstd = FloatBuffer(zeros: rows)
      let dx = FloatBuffer(zeros: rows * dim)
      let dw = FloatBuffer(zeros: dim)
      Kernels.rmsNormForward(
        x: x.pointer, weight: w.pointer, output: y.pointer, rstd: rstd.pointer, rows: rows,
        dim: dim, eps: 1e-5)
      Kernels.rmsNormBackward(
        dy: dy.pointer, x: x.pointer, weight: w.pointer, rstd: rstd.pointer, dx: dx.pointer,
        dweight: dw.pointer, rows: rows, dim: dim)
      let p = FloatBuffer(zeros: rows * dim)
      let dp = FloatBuffer(zeros: rows * dim)
      Kernels.softmaxForward(x: x.pointer, output: p.pointer, rows: rows, cols: dim)
      Kernels.softmaxBackward(dy: dy.pointer, y: p.pointer, dx: dp.pointer, rows: rows, cols: dim)
      let h = FloatBuffer(zeros: rows * dim)
      let dGate = FloatBuffer(zeros: rows * dim)
      let dUp = FloatBuffer(zeros: rows * dim)
      Kernels.swigluForward(gate: x.pointer, up: dy.pointer, output: h.pointer, count: rows * dim)
      Kernels.swigluBackward(
        dh: dy.pointer, gate: x.pointer, up: x.pointer, dGate: dGate.pointer, dUp: dUp.pointer,
        count: rows * dim)
      return [y, rstd, dx, dw, p, dp, h, dGate, dUp].map(\.array)
    }
    #expect(results.one == results.two)
  }

  @Test func ropeAndCrossEntropy() {
    let (batch, sequence, heads, headDim) = (2, 64, 4, 64)
    let table = RopeTable(headDim: headDim, maxPositions: 70, theta: 10_000)
    let values = randomFloats(batch * sequence * heads * headDim, seed: 74)
    let (rows, vocab) = (64, 2_000)
    let logits = FloatBuffer(randomFloats(rows * vocab, seed: 75, scale: 3))
    let targets: [Int32] = (0..<rows).map { $0 % 5 == 2 ? -100 : Int32($0 * 31 % vocab) }
    let results = singleAndDualThreaded { () -> [[Float]] in
      let x = FloatBuffer(values)
      Kernels.ropeForward(
        x.pointer, table: table, batch: batch, sequence: sequence, heads: heads,
        headDim: headDim, startPosition: 3)
      let rotated = x.array
      Kernels.ropeBackward(
        x.pointer, table: table, batch: batch, sequence: sequence, heads: heads,
        headDim: headDim, startPosition: 3)
      let lse = FloatBuffer(zeros: rows)
      let losses = FloatBuffer(zeros: rows)
      let d = FloatBuffer(zeros: rows * vocab)
      let total = targets.withUnsafeBufferPointer { t in
        let (sum, _) = Kernels.crossEntropyForward(
          logits: logits.pointer, targets: t.baseAddress!, rows: rows, vocab: vocab,
          logSumExp: lse.pointer, losses: losses.pointer)
        Kernels.crossEntropyBackward(
          logits: logits.pointer, targets: t.baseAddress!, logSumExp: lse.pointer, rows: rows,
          vocab: vocab, scale: 0.01, dLogits: d.pointer)
        return sum
      }
      return [rotated, x.array, lse.array, losses.array, d.array, [Float(total)]]
    }
    #expect(results.one == results.two)
  }

  @Test func attentionTrainingAndDecode() {
    let c = AttentionCase(
      batch: 2, sequence: 100, kvLength: 100, queryHeads: 4, kvHeads: 2, headDim: 16)
    let q = randomFloats(c.qCount, seed: 76)
    let k = randomFloats(c.kvCount, seed: 77)
    let v = randomFloats(c.kvCount, seed: 78)
    let dOut = randomFloats(c.qCount, seed: 79)
    let results = singleAndDualThreaded { runAttention(q, k, v, dOut: dOut, c) }
    // The per-head GEMMs run single-threaded inside the split, as on one thread.
    #expect(results.one.output == results.two.output)
    #expect(results.one.probs == results.two.probs)
    #expect(results.one.dq == results.two.dq)
    #expect(results.one.dk == results.two.dk)
    #expect(results.one.dv == results.two.dv)

    let (length, queryHeads, kvHeads, headDim) = (512, 8, 4, 64)
    let kCache = FloatBuffer(randomFloats(length * kvHeads * headDim, seed: 80))
    let vCache = FloatBuffer(randomFloats(length * kvHeads * headDim, seed: 81))
    let query = FloatBuffer(randomFloats(queryHeads * headDim, seed: 82))
    let decoded = singleAndDualThreaded { () -> [Float] in
      let out = FloatBuffer(zeros: queryHeads * headDim)
      let scratch = FloatBuffer(zeros: queryHeads * length)
      Kernels.attentionDecode(
        q: query.pointer, kCache: kCache.pointer, vCache: vCache.pointer, length: length,
        output: out.pointer, scratch: scratch.pointer, queryHeads: queryHeads, kvHeads: kvHeads,
        headDim: headDim)
      return out.array
    }
    #expect(decoded.one == decoded.two)
  }
}

@Suite("thread setting of the test process")
struct TestThreadSettingTests {
  static let requested = ProcessInfo.processInfo.environment["MINILLM_TEST_THREADS"].flatMap {
    Int($0)
  }

  @Test(
    .enabled(
      if: requested != nil, "MINILLM_TEST_THREADS is not set (scripts/test-cores sets it)"))
  func theRequestedThreadCountIsInForce() {
    #expect(minillm_test_thread_setting_linked() == 1)
    #expect(testThreadCountAppliedAtStart == Self.requested)
  }
}

/// OpenBLAS has one thread count for the process and rounds differently on different counts;
/// a thread's products must not change while another thread works at another count.
@Suite("OpenBLAS thread count per thread")
struct OpenBLASThreadCountTests {
  /// `C = A·Bᵀ` of a 128×128×64 product (large enough for OpenBLAS to split it over threads).
  static func product(_ a: [Float], _ b: [Float]) -> [Float] {
    var c = [Float](repeating: 0, count: 128 * 128)
    a.withUnsafeBufferPointer { a in
      b.withUnsafeBufferPointer { b in
        c.withUnsafeMutableBufferPointer { c in
          sgemm(
            transposeA: false, transposeB: true, m: 128, n: 128, k: 64, a: a.baseAddress!,
            lda: 64, b: b.baseAddress!, ldb: 64, c: c.baseAddress!, ldc: 128)
        }
      }
    }
    return c
  }

  @Test func productsKeepTheirBitsWhileAnotherThreadUsesAnotherCount() async {
    let a = randomFloats(128 * 64, seed: 90)
    let b = randomFloats(128 * 64, seed: 91)
    let expected = withThreadCount(2) { Self.product(a, b) }
    let alone = withThreadCount(1) { Self.product(a, b) }
    #expect(withThreadCount(1) { threadCount() } == 1)
    let mismatches = await withTaskGroup(of: Int.self) { group in
      group.addTask {
        (0..<200).reduce(0) { count, _ in
          count + (withThreadCount(2) { Self.product(a, b) } == expected ? 0 : 1)
        }
      }
      group.addTask {
        (0..<200).reduce(0) { count, _ in
          count + (withThreadCount(1) { Self.product(a, b) } == alone ? 0 : 1)
        }
      }
      return await group.reduce(0, +)
    }
    #expect(mismatches == 0)
  }
}
