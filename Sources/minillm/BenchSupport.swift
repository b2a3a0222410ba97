import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor

extension LlamaConfig.Preset: ExpressibleByArgument {}

/// Small measuring tools shared by the `bench` subcommands.
enum BenchClock {
  /// Monotonic seconds.
  static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

  /// Median, minimum and maximum of `samples` (not empty).
  static func summary(_ samples: [Double]) -> (median: Double, min: Double, max: Double) {
    let sorted = samples.sorted()
    let c = sorted.count
    let median = c % 2 == 1 ? sorted[c / 2] : 0.5 * (sorted[c / 2 - 1] + sorted[c / 2])
    return (median, sorted[0], sorted[c - 1])
  }

  /// Peak resident set size of this process so far, in MiB (`getrusage`).
  static func peakRSSMegabytes() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_maxrss) / 1024  // Linux reports KiB
  }

  /// CPU seconds (user + system) this process has used, and its minor page faults so far.
  static func ownUsage() -> (cpuSeconds: Double, minorFaults: Int) {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
    return (seconds(usage.ru_utime) + seconds(usage.ru_stime), usage.ru_minflt)
  }
}

/// How many cores other processes kept busy while a benchmark ran: machine-wide busy time from
/// `/proc/stat` minus this process's CPU time, over the wall time (0 = quiet machine).
struct LoadProbe {
  private let wall0: Double
  private let busy0: Double
  private let own0: Double

  init() {
    wall0 = BenchClock.now()
    busy0 = Self.machineBusySeconds()
    own0 = Self.ownSeconds()
  }

  /// Cores used by other processes since `init`, on average.
  func foreignCores() -> Double {
    let wall = BenchClock.now() - wall0
    guard wall > 0 else { return 0 }
    let foreign = (Self.machineBusySeconds() - busy0) - (Self.ownSeconds() - own0)
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

  private static func ownSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) * 1e-6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
  }
}

/// The GEMM peak a benchmark's MFU is measured against: a square `size³` sgemm (NN) through
/// MiniTensor on the current thread setting, median GFLOP/s over `seconds` of calls.
func measureGemmPeak(size: Int = 2048, seconds: Double = 2) -> Double {
  GemmBench.measure(GemmShape(m: size, n: size, k: size, layout: "NN"), minimumSeconds: seconds)
    .median
}

/// Prints `object` as one JSON line (keys sorted).
func printJSONLine(_ object: [String: Any]) throws {
  let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
  print(String(decoding: data, as: UTF8.self))
}

/// `value` rounded to `digits` decimals, for JSON output.
func rounded(_ value: Double, _ digits: Int = 3) -> Double {
  let scale = pow(10, Double(digits))
  return (value * scale).rounded() / scale
}
