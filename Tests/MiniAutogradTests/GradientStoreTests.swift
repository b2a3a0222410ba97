import MiniAutograd
import MiniTensor
import TestSupport
import Testing

/// `Tape.storeGradients`, the call backward kernels write their gradients through.
@Suite("storing gradients")
struct GradientStoreTests {
  static let n = 13

  /// The gradients of `a` and `b` (leaves), of a parameter, and of an untracked constant after a
  /// backward through one node that writes seven gradients — in one `storeGradients` call, or
  /// in one call per gradient — each the seed times a random factor. `a` already holds a gradient
  /// from a later consumer when the node runs; `b` does not; `a`, `b` and the parameter are
  /// named twice, the constant once.
  static func gradients(combined: Bool) -> (a: [Float], b: [Float], w: [Float], c: Tensor?) {
    var builder = ParameterArena.Builder()
    let parameter = builder.declare("w", shape: [n], initializer: .normal(standardDeviation: 1))
    let arena = builder.build(seed: 3)
    defer { withExtendedLifetime(arena) {} }
    let tape = Tape()
    let a = tape.variable(randomTensor([n], seed: 1))
    let b = tape.variable(randomTensor([n], seed: 2))
    let w = parameter.variable(on: tape)
    let c = Variable(randomTensor([n], seed: 4))
    let factors = (0..<7).map { randomTensor([n], seed: 10 + UInt64($0)) }
    let (ha, hb, hw, hc) = (a.handle, b.handle, w.handle, c.handle)
    let node = tape.record(Tensor.zeros([n])) { tape, dy in
      withUnsafePointers(
        dy, factors[0], factors[1], factors[2], factors[3], factors[4], factors[5], factors[6]
      ) { dy, f0, f1, f2, f3, f4, f5, f6 in
        func write(_ f: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>) {
          for i in 0..<n { d[i] = dy[i] * f[i] }
        }
        func add(_ f: UnsafePointer<Float>, _ d: UnsafeMutablePointer<Float>) {
          for i in 0..<n { d[i] += dy[i] * f[i] }
        }
        if combined {
          tape.storeGradients(
            .overwrite(ha, count: n), .overwrite(hb, count: n), .overwrite(ha, count: n),
            .overwrite(hc, count: n), .add(hw, count: n), .add(hb, count: n),
            .overwrite(hw, count: n)
          ) { da, db, da2, dc, dw, db2, dw2 in
            write(f0, da)
            write(f1, db)
            write(f2, da2)
            write(f3, dc)
            add(f4, dw)
            add(f5, db2)
            write(f6, dw2)
          }
        } else {
          tape.storeGradients(.overwrite(ha, count: n)) { write(f0, $0) }
          tape.storeGradients(.overwrite(hb, count: n)) { write(f1, $0) }
          tape.storeGradients(.overwrite(ha, count: n)) { write(f2, $0) }
          tape.storeGradients(.overwrite(hc, count: n)) { write(f3, $0) }
          tape.storeGradients(.add(hw, count: n)) { add(f4, $0) }
          tape.storeGradients(.add(hb, count: n)) { add(f5, $0) }
          tape.storeGradients(.overwrite(hw, count: n)) { write(f6, $0) }
        }
      }
    }
    let later = a * Variable(randomTensor([n], seed: 5))
    let seed = randomTensor([n], seed: 6)
    tape.backward(from: node + later, seed: seed)
    return (
      tape.gradient(of: a)?.scalars ?? [], tape.gradient(of: b)?.scalars ?? [],
      parameter.gradient.scalars, tape.gradient(of: c)
    )
  }

  @Test func oneCallAccumulatesExactlyLikeOneCallPerGradient() {
    let combined = Self.gradients(combined: true)
    let separate = Self.gradients(combined: false)
    #expect(combined.a == separate.a)
    #expect(combined.b == separate.b)
    #expect(combined.w == separate.w)
    #expect(combined.c == nil && separate.c == nil)
  }

  @Test func aVariableNamedTwiceGetsBothGradientsInOrder() {
    let n = Self.n
    let (dy, laterFactor) = (randomTensor([n], seed: 6), randomTensor([n], seed: 5))
    let f = (0..<7).map { randomTensor([n], seed: 10 + UInt64($0)) }
    // The same Float operations, in the order the tape performs them.
    let a = ((dy * laterFactor) + dy * f[0]) + dy * f[2]
    let b = dy * f[1] + dy * f[5]
    let w = dy * f[4] + dy * f[6]
    let stored = Self.gradients(combined: true)
    #expect(stored.a == a.scalars)
    #expect(stored.b == b.scalars)
    #expect(stored.w == w.scalars)
  }

  @Test func attentionOverOneTensorAsQueriesKeysAndValues() {
    // q, k and v are one variable: its three gradients must add up, not replace each other.
    let x = randomTensor([2, 5, 2, 4], seed: 7)
    let tape = Tape()
    let fused = tape.variable(x)
    tape.backward(from: causalAttention(q: fused, k: fused, v: fused).squared().sum())
    let referenceTape = Tape()
    let reference = referenceTape.variable(x)
    referenceTape.backward(
      from: Unfused.causalAttention(q: reference, k: reference, v: reference).squared().sum())
    let (got, want) = (tape.gradient(of: fused), referenceTape.gradient(of: reference))
    #expect(got != nil && want != nil)
    if let got, let want { expectClose(got, want, rtol: 1e-4, atol: 1e-5) }
  }
}
