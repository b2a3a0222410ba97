import CKernels
import Foundation
import MiniTensor
import TestSupport
import Testing

/// The instruction sets this CPU runs (the portable one always); each is tested against the
/// portable C reference. On a CPU without AVX-512 only `portable` and `avx2` appear.
let runnableInstructionSets = KernelInstructionSet.allCases.filter {
  $0 <= detectedKernelInstructionSet()
}

/// The kernel table of `set`, taken directly (the process-wide limit stays untouched, so tests
/// running alongside keep their kernels).
func kernelTable(_ set: KernelInstructionSet) -> ck_kernels {
  ck_kernels_for(ck_isa(rawValue: UInt32(set.rawValue))).pointee
}

/// Runs `body` with the kernels of `set`, then with the portable ones, and returns both results.
func onPathAndPortable(
  _ set: KernelInstructionSet, _ body: (ck_kernels) -> [Float]
) -> (path: [Float], portable: [Float]) {
  (body(kernelTable(set)), body(kernelTable(.portable)))
}

/// Lengths that hit the 16-lane tails, one block of 256 and several.
let awkwardLengths = [1, 15, 17, 64, 255, 257, 1_000]

/// Every dispatched kernel against its portable C version. The AVX2 and AVX-512 element-wise
/// paths must also agree bit for bit (same 16 lanes, same explicit multiply-adds); the portable
/// path multiplies and adds separately, so it differs by rounding only.
@Suite("CKernels dispatch")
struct KernelDispatchTests {
  @Test func detectionIsConsistentWithTheCPUFeatures() {
    let features = Set(cpuFeatures())
    let detected = detectedKernelInstructionSet()
    #expect((detected >= .avx2) == (features.contains("avx2") && features.contains("fma")))
    let avx512: Set = ["avx512f", "avx512bw", "avx512dq", "avx512vl"]
    #expect((detected >= .avx512) == (detected >= .avx2 && avx512.isSubset(of: features)))
    #expect(
      (detected == .avx512VNNI) == (detected >= .avx512 && features.contains("avx512vnni")))
    #expect(kernelTable(detected).isa.rawValue == UInt32(detected.rawValue))
    for set in KernelInstructionSet.allCases {
      #expect(KernelInstructionSet(name: set.description) == set)
      // A set above the CPU's gives the CPU's best.
      #expect(Int(kernelTable(set).isa.rawValue) == min(set, detected).rawValue)
    }
  }

  @Test(arguments: runnableInstructionSets)
  func softmaxFamily(_ set: KernelInstructionSet) {
    for n in awkwardLengths {
      let x = FloatBuffer(randomFloats(n, seed: UInt64(n), scale: 4))
      let dy = FloatBuffer(randomFloats(n, seed: UInt64(n) + 1))
      let run = { (k: ck_kernels) -> [Float] in
        let y = FloatBuffer(zeros: n)
        let dx = FloatBuffer(zeros: n)
        let logY = FloatBuffer(zeros: n)
        let dLog = FloatBuffer(zeros: n)
        let e = FloatBuffer(zeros: n)
        k.softmax_row(x.pointer, y.pointer, n)
        k.softmax_backward_row(dy.pointer, y.pointer, dx.pointer, n, 0.5)
        let lse = k.log_sum_exp(x.pointer, n)
        k.shift_row(x.pointer, logY.pointer, n, Float(lse))
        k.log_softmax_backward_row(dy.pointer, logY.pointer, dLog.pointer, n)
        k.exp_scaled_row(x.pointer, e.pointer, n, Float(lse), 0.25)
        return y.array + dx.array + [Float(lse)] + logY.array + dLog.array + e.array
      }
      let (path, portable) = onPathAndPortable(set, run)
      expectClose(path, portable, rtol: 2e-6, atol: 1e-7, "\(set) n \(n)")
      if set > .avx2 { #expect(path == run(kernelTable(.avx2)), "\(set) n \(n)") }
    }
  }

  @Test(arguments: runnableInstructionSets)
  func rmsNorm(_ set: KernelInstructionSet) {
    for dim in awkwardLengths {
      let rows = 3
      let x = FloatBuffer(randomFloats(rows * dim, seed: 11, scale: 2))
      let w = FloatBuffer(randomFloats(dim, seed: 12))
      let dy = FloatBuffer(randomFloats(rows * dim, seed: 13))
      let run = { (k: ck_kernels) -> [Float] in
        let y = FloatBuffer(zeros: rows * dim)
        let rstd = FloatBuffer(zeros: rows)
        let dx = FloatBuffer(zeros: rows * dim)
        let dw = FloatBuffer(zeros: dim)
        k.rmsnorm_forward(x.pointer, w.pointer, y.pointer, rstd.pointer, rows, dim, 1e-5)
        k.rmsnorm_backward(
          dy.pointer, x.pointer, w.pointer, rstd.pointer, dx.pointer, dw.pointer, rows, dim)
        return y.array + rstd.array + dx.array + dw.array
      }
      let (path, portable) = onPathAndPortable(set, run)
      expectClose(path, portable, rtol: 2e-6, atol: 2e-6, "\(set) dim \(dim)")
      if set > .avx2 { #expect(path == run(kernelTable(.avx2)), "\(set) dim \(dim)") }
    }
  }

  @Test(arguments: runnableInstructionSets)
  func swiGLU(_ set: KernelInstructionSet) {
    for n in awkwardLengths {
      let g = FloatBuffer(randomFloats(n, seed: 21, scale: 6))
      let u = FloatBuffer(randomFloats(n, seed: 22))
      let dh = FloatBuffer(randomFloats(n, seed: 23))
      let run = { (k: ck_kernels) -> [Float] in
        let h = FloatBuffer(zeros: n)
        let dg = FloatBuffer(zeros: n)
        let du = FloatBuffer(zeros: n)
        k.swiglu_forward(g.pointer, u.pointer, h.pointer, n)
        k.swiglu_backward(dh.pointer, g.pointer, u.pointer, dg.pointer, du.pointer, n)
        return h.array + dg.array + du.array
      }
      let (path, portable) = onPathAndPortable(set, run)
      expectClose(path, portable, rtol: 2e-6, atol: 1e-7, "\(set) n \(n)")
      if set > .avx2 { #expect(path == run(kernelTable(.avx2)), "\(set) n \(n)") }
    }
  }

  @Test(arguments: runnableInstructionSets)
  func ropeAndDecodeAttention(_ set: KernelInstructionSet) {
    for headDim in [2, 34, 48, 64, 128] {
      let heads = 3
      let half = headDim / 2
      let x = randomFloats(heads * headDim, seed: 31)
      let angles = (0..<half).map { Float($0) * 0.37 }
      let cosines = FloatBuffer(angles.map { Float(Foundation.cos(Double($0))) })
      let sines = FloatBuffer(angles.map { Float(Foundation.sin(Double($0))) })
      let length = 37
      let q = FloatBuffer(randomFloats(headDim, seed: 32))
      let keys = FloatBuffer(randomFloats(length * heads * headDim, seed: 33))
      let values = FloatBuffer(randomFloats(length * heads * headDim, seed: 34))
      let run = { (k: ck_kernels) -> [Float] in
        let rotated = FloatBuffer(x)
        k.rope_row(rotated.pointer, cosines.pointer, sines.pointer, heads, headDim, 1)
        let back = FloatBuffer(rotated.array)
        k.rope_row(back.pointer, cosines.pointer, sines.pointer, heads, headDim, -1)
        let scores = FloatBuffer(zeros: length)
        let out = FloatBuffer(zeros: headDim)
        k.attention_decode_head(
          q.pointer, keys.pointer, values.pointer, heads * headDim, length, headDim, 0.125,
          scores.pointer, out.pointer)
        return rotated.array + back.array + scores.array + out.array
          + [Float(k.dot(q.pointer, keys.pointer, headDim))]
      }
      let (path, portable) = onPathAndPortable(set, run)
      expectClose(path, portable, rtol: 2e-6, atol: 1e-6, "\(set) headDim \(headDim)")
      // The inverse rotation brings x back.
      expectClose(Array(path[(heads * headDim)..<(2 * heads * headDim)]), x, rtol: 1e-6, atol: 1e-6)
      if set > .avx2 { #expect(path == run(kernelTable(.avx2)), "\(set) headDim \(headDim)") }
    }
  }

  /// AdamW never fuses a multiply-add: every path gives the same bits.
  @Test(arguments: runnableInstructionSets)
  func adamW(_ set: KernelInstructionSet) {
    let n = 1_000
    let g = FloatBuffer(randomFloats(n, seed: 41))
    let run = { (k: ck_kernels) -> [Float] in
      let p = FloatBuffer(randomFloats(n, seed: 42))
      let m = FloatBuffer(randomFloats(n, seed: 43, scale: 0.1))
      let v = FloatBuffer(randomFloats(n, seed: 44, scale: 0.1).map { $0 * $0 })
      k.adamw(
        p.pointer, g.pointer, m.pointer, v.pointer, n, 0.9, 0.95, 0.1, 0.05, 0.3, 1e-8, 1e-3, 0.999,
        1)
      k.adamw(
        p.pointer, g.pointer, m.pointer, v.pointer, n - 3, 0.9, 0.95, 0.1, 0.05, 0.3, 1e-8, 1e-3, 1,
        0)
      return p.array + m.array + v.array
    }
    let (path, portable) = onPathAndPortable(set, run)
    #expect(path == portable)
  }

  @Test(arguments: runnableInstructionSets)
  func matrixVectorProducts(_ set: KernelInstructionSet) {
    for cols in [32, 96, 1_376] {
      let rows = 21
      let ldw = cols + 3
      let w = FloatBuffer(randomFloats(rows * ldw, seed: 51))
      let x = FloatBuffer(randomFloats(cols, seed: 52))
      var rng = PhiloxRNG(seed: 53)
      // Quants in −127…127 as ggml writes them, and a vector with the extreme values.
      let wq: [Int8] = (0..<(rows * cols)).map { _ in Int8(Int(rng.nextUInt32() % 255) - 127) }
      let xq: [Int8] = (0..<cols).map { (i: Int) -> Int8 in
        if i % 7 == 0 { return 127 }
        if i % 11 == 0 { return -127 }
        return Int8(i % 50 - 25)
      }
      let wd = randomFloats(rows * cols / 32, seed: 54, scale: 0.01)
      let xd = randomFloats(cols / 32, seed: 55, scale: 0.01)
      let run = { (k: ck_kernels) -> [Float] in
        let y = FloatBuffer(zeros: rows)
        let accumulated = FloatBuffer([Float](repeating: 1, count: rows))
        let q = FloatBuffer(zeros: rows)
        k.f32_dot_rows(w.pointer, ldw, x.pointer, y.pointer, rows, cols, 0)
        k.f32_dot_rows(w.pointer, ldw, x.pointer, accumulated.pointer, rows, cols, 1)
        wq.withUnsafeBufferPointer { wqb in
          xq.withUnsafeBufferPointer { xqb in
            k.q8_dot_rows(
              wqb.baseAddress!, wd, xqb.baseAddress!, xd, q.pointer, rows, cols)
          }
        }
        return y.array + accumulated.array + q.array
      }
      let (path, portable) = onPathAndPortable(set, run)
      expectCloseScaled(path, portable, rtol: 2e-6, "\(set) cols \(cols)")
    }
  }
}
