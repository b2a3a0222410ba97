import CKernels
import Foundation
import MiniTensor
import TestSupport
import Testing

/// The kernels of llama.cpp's arithmetic (`InferenceArithmetic.llamaCpp`): the same bits on every
/// instruction set (they fix their own lanes and fuse every multiply-add), and each close to a
/// `Double` evaluation of what it computes. Their agreement with llama.cpp itself is tested on
/// whole models (MiniLlamaTests' "llama.cpp arithmetic").
@Suite("llama.cpp arithmetic kernels")
struct LlamaCppKernelTests {
  /// Values across every range of half precision: normal, subnormal, the ties between two halves,
  /// the overflow boundary, zeros of both signs and infinities.
  static let halfProbes: [Float] = {
    var values: [Float] = [
      0, -0, 1, -1, 65504, 65519, 65520, 65535, 70000, -65520, .infinity, -.infinity,
      .leastNonzeroMagnitude, 0x1p-24, 0x1p-25, 0x1.8p-25, 0x1.8p-24, 0x1p-14, 0x1.ffcp-15,
    ]
    var rng = PhiloxRNG(seed: 11)
    for exponent in -30...17 {
      for _ in 0..<64 {
        values.append(Float(sign: .plus, exponent: exponent, significand: 1 + rng.nextUniform()))
      }
    }
    // Exactly halfway between neighbouring halves: ties go to the even one.
    for bits in stride(from: UInt16(1), to: 0x7BFF, by: 97) {
      let low = Float(Float16(bitPattern: bits))
      let high = Float(Float16(bitPattern: bits + 1))
      values.append((low + high) / 2)
      values.append(-(low + high) / 2)
    }
    return values
  }()

  @Test(arguments: runnableInstructionSets)
  func halfRoundingIsTheF16Conversion(_ set: KernelInstructionSet) {
    let buffer = FloatBuffer(Self.halfProbes)
    kernelTable(set).half_round(buffer.pointer, buffer.count)
    for (i, x) in Self.halfProbes.enumerated() {
      let expected = Float(Float16(x))
      #expect(
        buffer.pointer[i].bitPattern == expected.bitPattern,
        "\(x) rounds to \(buffer.pointer[i]), not \(expected)")
    }
  }

  /// One head over `length` positions, against attention in `Double` over the half-rounded
  /// queries, keys, values and probabilities; the same bits on every instruction set.
  @Test(arguments: [(64, 1), (64, 37), (128, 300), (80, 33)], [0, 1])
  func attentionHeadIsHalfPrecisionAttention(shape: (headDim: Int, length: Int), prompt: Int32) {
    let (D, L) = shape
    let stride = 2 * D
    let half = { (x: Float) in Float(Float16(x)) }
    let q = randomFloats(D, seed: 1, scale: 2)
    let k = randomFloats(L * stride, seed: 2).map(half)
    let v = randomFloats(L * stride, seed: 3).map(half)
    let scale = 1 / Float(D).squareRoot()
    var outputs: [[Float]] = []
    for set in runnableInstructionSets {
      let (kb, vb) = (FloatBuffer(k), FloatBuffer(v))
      let scores = FloatBuffer(zeros: L)
      let sums = FloatBuffer(zeros: 32 * D)
      let out = FloatBuffer(zeros: D)
      q.withUnsafeBufferPointer { q in
        kernelTable(set).attention_head_f16(
          q.baseAddress!, kb.pointer, vb.pointer, stride, L, D, scale, prompt, scores.pointer,
          sums.pointer, out.pointer)
      }
      outputs.append(Array(UnsafeBufferPointer(start: out.pointer, count: D)))
    }
    #expect(outputs.allSatisfy { $0 == outputs[0] }, "the instruction sets disagree")
    let qh = q.map { Double(half($0)) }
    let logits = (0..<L).map { j in
      (0..<D).reduce(0.0) { $0 + qh[$1] * Double(k[j * stride + $1]) } * Double(scale)
    }
    let largest = logits.max()!
    let weights = logits.map { exp($0 - largest) }
    let total = weights.reduce(0, +)
    let p = weights.map { Double(half(Float($0 / total))) }
    let reference = (0..<D).map { d in
      (0..<L).reduce(0.0) { $0 + p[$1] * Double(v[$1 * stride + d]) }
    }
    let magnitude = reference.map(abs).max()!
    for d in 0..<D {
      // The probabilities are rounded to half either side of a few-ulp difference in e^x.
      #expect(abs(Double(outputs[0][d]) - reference[d]) <= 2e-3 * magnitude, "element \(d)")
    }
  }

  @Test func swigluAndRotationAreTheirFormulas() {
    let n = 1_003  // a tail after the whole eights
    let g = randomFloats(n, seed: 4, scale: 6)
    let u = randomFloats(n, seed: 5)
    var results: [[Float]] = []
    for set in runnableInstructionSets {
      let out = FloatBuffer(zeros: n)
      g.withUnsafeBufferPointer { g in
        u.withUnsafeBufferPointer { u in
          kernelTable(set).swiglu_forward_ggml(g.baseAddress!, u.baseAddress!, out.pointer, n)
        }
      }
      results.append(Array(UnsafeBufferPointer(start: out.pointer, count: n)))
    }
    #expect(results.allSatisfy { $0 == results[0] })
    for i in 0..<n {
      let x = Double(g[i])
      let expected = x / (1 + exp(-x)) * Double(u[i])
      #expect(abs(Double(results[0][i]) - expected) <= 1e-6 * max(abs(expected), 1e-3))
    }

    let (heads, D) = (3, 64)
    let x = randomFloats(heads * D, seed: 6)
    let angles = (0..<(D / 2)).map { Float($0) * 0.37 + 1 }
    let (c, s) = (angles.map { cos($0) }, angles.map { sin($0) })
    var rotations: [[Float]] = []
    for set in runnableInstructionSets {
      let buffer = FloatBuffer(x)
      kernelTable(set).rope_row_ggml(buffer.pointer, c, s, heads, D)
      rotations.append(Array(UnsafeBufferPointer(start: buffer.pointer, count: heads * D)))
    }
    #expect(rotations.allSatisfy { $0 == rotations[0] })
    for h in 0..<heads {
      for i in 0..<(D / 2) {
        let (a, b) = (Double(x[h * D + i]), Double(x[h * D + i + D / 2]))
        let (ci, si) = (Double(c[i]), Double(s[i]))
        #expect(abs(Double(rotations[0][h * D + i]) - (a * ci - b * si)) <= 1e-6)
        #expect(abs(Double(rotations[0][h * D + i + D / 2]) - (a * si + b * ci)) <= 1e-6)
      }
    }
  }
}
