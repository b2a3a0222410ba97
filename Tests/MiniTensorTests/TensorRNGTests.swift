import MiniTensor
import TestSupport
import Testing

@Suite("Tensor RNG (Philox)")
struct TensorRNGTests {
  /// Random123 `tests/kat_vectors`, the three `philox4x32 10` lines: counter words, key words,
  /// expected output words.
  @Test(
    arguments: [
      ([0, 0, 0, 0], [0, 0], [0x6627_e8d5, 0xe169_c58d, 0xbc57_ac4c, 0x9b00_dbd8]),
      (
        [0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff], [0xffff_ffff, 0xffff_ffff],
        [0x408f_276d, 0x41c8_3b0e, 0xa20b_c7c6, 0x6d54_51fd]
      ),
      (
        [0x243f_6a88, 0x85a3_08d3, 0x1319_8a2e, 0x0370_7344], [0xa409_3822, 0x299f_31d0],
        [0xd16c_fe09, 0x94fd_cceb, 0x5001_e420, 0x2412_6ea1]
      ),
    ] as [([UInt32], [UInt32], [UInt32])])
  func matchesKnownAnswers(counter: [UInt32], key: [UInt32], expected: [UInt32]) {
    // Counter words 0–1 are the block counter, 2–3 the stream; the key is the seed.
    var state = PhiloxRNG(seed: 0).state
    state.seed = UInt64(key[1]) << 32 | UInt64(key[0])
    state.stream = UInt64(counter[3]) << 32 | UInt64(counter[2])
    state.counter = UInt64(counter[1]) << 32 | UInt64(counter[0])
    state.word = 4
    var rng = PhiloxRNG(state: state)
    #expect((0..<4).map { _ in rng.nextUInt32() } == expected)
  }

  @Test func savedStateResumesTheSameSequenceMidBlock() {
    var rng = PhiloxRNG(seed: 42, stream: 3)
    for _ in 0..<7 { _ = rng.nextUInt32() }  // stop inside a block
    let saved = rng.state
    let expected = (0..<20).map { _ in rng.nextUInt32() }
    var restored = PhiloxRNG(state: saved)
    #expect((0..<20).map { _ in restored.nextUInt32() } == expected)
    var a = PhiloxRNG(seed: 1)
    var b = PhiloxRNG(seed: 1)
    #expect(Tensor.randomNormal([5], using: &a) == Tensor.randomNormal([5], using: &b))
  }

  @Test func splitsAndStreamsAreIndependentAndLeaveTheParentAlone() {
    let parent = PhiloxRNG(seed: 9)
    var first = parent.split(0)
    var second = parent.split(1)
    var again = parent.split(0)
    let x = (0..<8).map { _ in first.nextUInt32() }
    #expect(x == (0..<8).map { _ in again.nextUInt32() })
    #expect(x != (0..<8).map { _ in second.nextUInt32() })
    #expect(parent.state == PhiloxRNG(seed: 9).state)
    var s0 = PhiloxRNG(seed: 9, stream: 0)
    var s1 = PhiloxRNG(seed: 9, stream: 1)
    #expect(s0.nextUInt32() != s1.nextUInt32())
  }

  @Test func uniformAndNormalSamplesHaveTheRightMoments() {
    var rng = PhiloxRNG(seed: 5)
    let u = Tensor.randomUniform([20_000], in: -1..<3, using: &rng)
    #expect(u.scalars.allSatisfy { $0 >= -1 && $0 < 3 })
    #expect(abs(u.mean() - 1) < 0.05)  // σ of the mean ≈ 0.008
    let n = Tensor.randomNormal([20_000], mean: 2, standardDeviation: 0.5, using: &rng)
    let mean = n.mean()
    let variance = (n - mean).squared().mean()
    #expect(abs(mean - 2) < 0.02)  // σ of the mean ≈ 0.0035
    #expect(abs(variance - 0.25) < 0.02)
  }
}
