import Foundation

/// Small measuring tools of the `minillm bench` harness: a monotonic clock, statistics over
/// samples, and this process's resource use.
package enum BenchClock {
  /// Monotonic seconds.
  package static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

  /// Median, minimum and maximum of `samples` (not empty).
  package static func summary(_ samples: [Double]) -> (median: Double, min: Double, max: Double) {
    let sorted = samples.sorted()
    let c = sorted.count
    let median = c % 2 == 1 ? sorted[c / 2] : 0.5 * (sorted[c / 2 - 1] + sorted[c / 2])
    return (median, sorted[0], sorted[c - 1])
  }

  /// Peak resident set size of this process so far, in MiB (`getrusage`).
  package static func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // Linux reports KiB
  }

  /// CPU seconds (user + system) this process has used, and its minor page faults so far.
  package static func ownUsage() -> (cpuSeconds: Double, minorFaults: Int) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
    return (seconds(usage.ru_utime) + seconds(usage.ru_stime), usage.ru_minflt)
  }
}

/// How many cores other processes kept busy while a benchmark ran: machine-wide busy time from
/// `/proc/stat` minus this process's CPU time, over the wall time (0 = quiet machine).
package struct LoadProbe {
  private let wall0: Double
  private let busy0: Double
  private let own0: Double

  /// Starts measuring.
  package init() {
    wall0 = BenchClock.now()
    busy0 = Self.machineBusySeconds()
    own0 = BenchClock.ownUsage().cpuSeconds
  }

  /// Cores used by other processes since `init`, on average.
  package func foreignCores() -> Double {
    let wall = BenchClock.now() - wall0
    guard wall > 0 else { return 0 }
    let foreign = (Self.machineBusySeconds() - busy0) - (BenchClock.ownUsage().cpuSeconds - own0)
    return max(0, foreign / wall)
  }

  private static func machineBusySeconds() -> Double {
    guard let text = try? String(contentsOfFile: "/proc/stat", encoding: .utf8),
      let line = text.split(separator: "\n").first
    else { return 0 }
    let fields = line.split(separator: " ").dropFirst().compactMap { Double($0) }
    guard fields.count >= 7 else { return 0 }
    // user nice system idle iowait irq softirq
    let busy = fields[0] + fields[1] + fields[2] + fields[5] + fields[6]
    return busy / Double(sysconf(Int32(_SC_CLK_TCK)))
  }
}

/// Why a shapes file cannot be used.
package enum GemmShapeFileError: Error, CustomStringConvertible {
  /// `cannot read PATH: why`.
  case unreadable(String)
  /// `PATH:LINE: expected 'M N K NN|NT|TN', got 'LINE'`.
  case badLine(String)

  package var description: String {
    switch self {
    case .unreadable(let message), .badLine(let message): message
    }
  }
}

/// One GEMM shape of the benchmark: `m × k` times `k × n`, with the layout of the operands
/// (`NN`, `NT`: the second transposed, `TN`: the first transposed).
package struct GemmShape: Codable, Sendable {
  package var m: Int
  package var n: Int
  package var k: Int
  package var layout: String

  package init(m: Int, n: Int, k: Int, layout: String) {
    self.m = m
    self.n = n
    self.k = k
    self.layout = layout
  }

  /// A shape from its four fields `M N K NN|NT|TN`, or `nil` when they are not one.
  package init?<S: StringProtocol>(fields: [S]) {
    guard fields.count == 4, let m = Int(fields[0]), let n = Int(fields[1]),
      let k = Int(fields[2]), m > 0, n > 0, k > 0, ["NN", "NT", "TN"].contains(String(fields[3]))
    else { return nil }
    self.init(m: m, n: n, k: k, layout: String(fields[3]))
  }

  /// The shapes of a shapes file: one `M N K NN|NT|TN` line each; blank lines and `#`
  /// comments are skipped.
  /// - Throws: ``GemmShapeFileError`` naming the file (and line) that cannot be read.
  package static func list(contentsOf path: String) throws -> [GemmShape] {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw GemmShapeFileError.unreadable("cannot read \(path): \(error.localizedDescription)")
    }
    var result: [GemmShape] = []
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
    {
      let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
      let fields = content.split(whereSeparator: \.isWhitespace)
      if fields.isEmpty { continue }
      guard let shape = GemmShape(fields: fields) else {
        throw GemmShapeFileError.badLine(
          "\(path):\(number + 1): expected 'M N K NN|NT|TN', got '\(line)'")
      }
      result.append(shape)
    }
    return result
  }

  /// The products of the `tiny` preset's training step and square references.
  package static let defaults: [GemmShape] = [
    (256, 256, 256, "NN"), (512, 512, 512, "NN"), (1024, 1024, 1024, "NN"),
    (2048, 2048, 2048, "NN"), (2048, 512, 512, "NN"), (2048, 1376, 512, "NN"),
    (2048, 6400, 512, "NN"), (2048, 512, 512, "NT"), (2048, 1376, 512, "NT"),
    (2048, 6400, 512, "NT"), (2048, 512, 1376, "NT"), (512, 512, 2048, "TN"),
    (1376, 512, 2048, "TN"), (6400, 512, 2048, "TN"),
  ].map { GemmShape(m: $0.0, n: $0.1, k: $0.2, layout: $0.3) }

  /// GFLOP/s of `matmul` on this shape the way `sgemm_bench.c` measures: one warm-up call,
  /// then calls until at least 7 calls and `minimumSeconds` have passed; statistics over
  /// single calls.
  package func measure(minimumSeconds: Double) -> (median: Double, min: Double, max: Double) {
    var rng = PhiloxRNG(seed: 1)
    let a: Tensor
    let b: Tensor
    switch layout {
    case "NT":
      a = .randomUniform([m, k], in: -0.5..<0.5, using: &rng)
      b = Tensor.randomUniform([n, k], in: -0.5..<0.5, using: &rng).transposed()
    case "TN":
      a = Tensor.randomUniform([k, m], in: -0.5..<0.5, using: &rng).transposed()
      b = .randomUniform([k, n], in: -0.5..<0.5, using: &rng)
    default:
      a = .randomUniform([m, k], in: -0.5..<0.5, using: &rng)
      b = .randomUniform([k, n], in: -0.5..<0.5, using: &rng)
    }
    let flops = 2 * Double(m) * Double(n) * Double(k)
    var output = Tensor.zeros([m, n])
    matmul(a, b, into: &output)
    var samples: [Double] = []
    let start = BenchClock.now()
    while samples.count < 7 || BenchClock.now() - start < minimumSeconds {
      let t0 = BenchClock.now()
      matmul(a, b, into: &output)
      samples.append(flops / (BenchClock.now() - t0) * 1e-9)
    }
    return BenchClock.summary(samples)
  }
}

/// `value` rounded to `digits` decimals, for JSON output.
package func rounded(_ value: Double, _ digits: Int = 3) -> Double {
  let scale = pow(10, Double(digits))
  return (value * scale).rounded() / scale
}
