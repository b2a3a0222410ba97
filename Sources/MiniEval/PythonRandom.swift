import Foundation

/// CPython's `random.Random` seeded with an integer: the Mersenne Twister MT19937 with
/// `init_by_array`, `getrandbits`, `_randbelow`, `random`, `sample` and `choices`, so that
/// few-shot examples and bootstrap resamples are the ones lm-evaluation-harness draws for the
/// same seed.
public struct PythonRandom: Sendable {
  private var state = [UInt32](repeating: 0, count: 624)
  private var index = 624

  /// `random.Random(seed)`.
  public init(seed: Int) {
    var magnitude = seed.magnitude
    var key: [UInt32] = []
    repeat {
      key.append(UInt32(truncatingIfNeeded: magnitude))
      magnitude >>= 32
    } while magnitude > 0
    initialize(genrand: 19_650_218)
    var i = 1
    var j = 0
    for _ in 0..<max(624, key.count) {
      let previous = state[i - 1] ^ (state[i - 1] >> 30)
      state[i] = (state[i] ^ (previous &* 1_664_525)) &+ key[j] &+ UInt32(j)
      i += 1
      j += 1
      if i >= 624 {
        state[0] = state[623]
        i = 1
      }
      if j >= key.count { j = 0 }
    }
    for _ in 0..<623 {
      let previous = state[i - 1] ^ (state[i - 1] >> 30)
      state[i] = (state[i] ^ (previous &* 1_566_083_941)) &- UInt32(i)
      i += 1
      if i >= 624 {
        state[0] = state[623]
        i = 1
      }
    }
    state[0] = 0x8000_0000
    index = 624
  }

  private mutating func initialize(genrand seed: UInt32) {
    state[0] = seed
    for i in 1..<624 {
      state[i] = 1_812_433_253 &* (state[i - 1] ^ (state[i - 1] >> 30)) &+ UInt32(i)
    }
  }

  /// The next 32 random bits (`genrand_uint32`).
  public mutating func nextUInt32() -> UInt32 {
    if index >= 624 {
      for k in 0..<624 {
        let y = (state[k] & 0x8000_0000) | (state[(k + 1) % 624] & 0x7fff_ffff)
        state[k] = state[(k + 397) % 624] ^ (y >> 1) ^ ((y & 1) == 0 ? 0 : 0x9908_b0df)
      }
      index = 0
    }
    var y = state[index]
    index += 1
    y ^= y >> 11
    y ^= (y << 7) & 0x9d2c_5680
    y ^= (y << 15) & 0xefc6_0000
    y ^= y >> 18
    return y
  }

  /// `getrandbits(count)` for `count` in `1...64`.
  public mutating func randomBits(_ count: Int) -> UInt64 {
    precondition((1...64).contains(count), "randomBits: \(count) bits")
    if count <= 32 { return UInt64(nextUInt32() >> (32 - count)) }
    let low = UInt64(nextUInt32())
    let high = UInt64(nextUInt32() >> (64 - count))
    return high << 32 | low
  }

  /// `_randbelow(bound)`: a uniform integer in `0..<bound` by rejection on `bound.bit_length()`
  /// bits.
  public mutating func below(_ bound: Int) -> Int {
    precondition(bound > 0, "below: bound \(bound)")
    let bits = Int.bitWidth - bound.leadingZeroBitCount
    var value = randomBits(bits)
    while value >= UInt64(bound) { value = randomBits(bits) }
    return Int(value)
  }

  /// `random()`: a uniform double in `[0, 1)` from 53 random bits (`genrand_res53`).
  public mutating func random() -> Double {
    let high = Double(nextUInt32() >> 5)
    let low = Double(nextUInt32() >> 6)
    return (high * 67_108_864 + low) * (1 / 9_007_199_254_740_992)
  }

  /// `random.choices(population, k: count)` without weights: `count` draws with replacement,
  /// each `population[floor(random() * n)]`.
  public mutating func choices<T>(_ population: [T], count: Int) -> [T] {
    precondition(!population.isEmpty || count == 0, "choices: empty population")
    let n = Double(population.count)
    return (0..<count).map { _ in population[Int(random() * n)] }
  }

  /// `random.sample(population, count)`: `count` distinct elements in selection order.
  public mutating func sample<T>(_ population: [T], count: Int) -> [T] {
    precondition(
      count >= 0 && count <= population.count,
      "sample: \(count) of \(population.count) elements")
    let n = population.count
    var setSize = 21
    if count > 5 {
      // 4 ** ceil(log(count * 3, 4)), computed as CPython does (in floating point).
      let exponent = (log(Double(count * 3)) / log(4.0)).rounded(.up)
      setSize += Int(pow(4.0, exponent))
    }
    var result: [T] = []
    result.reserveCapacity(count)
    if n <= setSize {
      var pool = population
      for i in 0..<count {
        let j = below(n - i)
        result.append(pool[j])
        pool[j] = pool[n - i - 1]
      }
    } else {
      var selected = Set<Int>()
      for _ in 0..<count {
        var j = below(n)
        while selected.contains(j) { j = below(n) }
        selected.insert(j)
        result.append(population[j])
      }
    }
    return result
  }

  /// `random.shuffle(items)` in place.
  public mutating func shuffle<T>(_ items: inout [T]) {
    guard items.count > 1 else { return }
    for i in stride(from: items.count - 1, to: 0, by: -1) {
      let j = below(i + 1)
      items.swapAt(i, j)
    }
  }
}
