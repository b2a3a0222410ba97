import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Opt-in timing of every matrix product by shape, to see where a step's GEMM time goes.
///
/// Between `begin()` and `end()` each `sgemm` that reaches BLAS (matrix products of at least two
/// rows: `matmul`, the model's projections, attention's per-head products) adds its wall time to
/// the entry of its shape and layout. Products running at once on several threads (attention
/// splits its heads over the threads) each add their own time, so totals are thread-seconds.
/// While not recording, the cost is one atomic load per product.
public enum GEMMProfile {
  /// One shape and layout's totals.
  public struct Entry: Sendable, Hashable {
    /// Whether `A` and `B` were passed transposed (`T`) or not (`N`), as in `"NT"`.
    public var layout: String
    /// Rows of the product.
    public var m: Int
    /// Columns of the product.
    public var n: Int
    /// The inner dimension.
    public var k: Int
    /// Products of this shape.
    public var calls: Int
    /// Their wall time, summed over the threads that ran them.
    public var seconds: Double

    /// Floating-point operations of all the calls, `2·m·n·k` each.
    public var flops: Double { 2 * Double(m) * Double(n) * Double(k) * Double(calls) }
    /// GFLOP/s of one call on its thread.
    public var gflops: Double { seconds > 0 ? flops / seconds * 1e-9 : 0 }
  }

  private struct Key: Hashable {
    var layout: String
    var m: Int
    var n: Int
    var k: Int
  }

  private static let recording = Atomic<Bool>(false)
  private static let table = Mutex<[Key: (calls: Int, seconds: Double)]>([:])

  /// Clears the totals and starts recording.
  public static func begin() {
    table.withLock { $0.removeAll() }
    recording.store(true, ordering: .releasing)
  }

  /// Stops recording and returns the totals, the most time first.
  public static func end() -> [Entry] {
    recording.store(false, ordering: .releasing)
    return table.withLock { table in
      table.map { key, value in
        Entry(
          layout: key.layout, m: key.m, n: key.n, k: key.k, calls: value.calls,
          seconds: value.seconds)
      }
    }
    .sorted {
      ($0.seconds, $0.layout, $0.m, $0.n, $0.k) > ($1.seconds, $1.layout, $1.m, $1.n, $1.k)
    }
  }

  /// Runs `body` (one product), timing it when recording.
  @inline(__always)
  static func measure(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, _ body: () -> Void
  ) {
    guard recording.load(ordering: .relaxed) else { return body() }
    let start = monotonicSeconds()
    body()
    let seconds = monotonicSeconds() - start
    let key = Key(layout: (transposeA ? "T" : "N") + (transposeB ? "T" : "N"), m: m, n: n, k: k)
    table.withLock { table in
      let old = table[key] ?? (0, 0)
      table[key] = (old.calls + 1, old.seconds + seconds)
    }
  }

  private static func monotonicSeconds() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_MONOTONIC, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) * 1e-9
  }
}
