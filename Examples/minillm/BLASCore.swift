import Foundation
import MiniTensor

/// OpenBLAS reads two settings from the environment only when it loads, before `main`, so the
/// executable sets them and replaces itself once (`execv`) with the same arguments. A value the
/// user set is always kept.
///
/// - `OPENBLAS_CORETYPE`: Debian's OpenBLAS is built with `DYNAMIC_ARCH`; on CPUs it does not
///   recognise (for example a Xeon under a hypervisor reporting a generic model name) it falls
///   back to its portable `Prescott` kernels, about 3× slower than the AVX2 ones the CPU could run.
/// - `OPENBLAS_THREAD_TIMEOUT=4`: after each GEMM, OpenBLAS's idle threads spin for 2²⁸ cycles
///   (≈ 0.1 s) by default before they sleep. A training step alternates GEMMs with our own
///   multi-threaded kernels, and a spinning OpenBLAS thread takes a core from them: attention's
///   per-head products ran about 25 % slower. With 2⁴ cycles the threads sleep at once and a GEMM
///   wakes them (microseconds, against milliseconds of work).
enum BLASCore {
  /// Kernel sets that use no AVX2/FMA (OpenBLAS's names for pre-Haswell x86 cores).
  static let genericCores: Set<String> = [
    "Prescott", "Katmai", "Coppermine", "Northwood", "Banias", "Core2", "Penryn", "Dunnington",
    "Nehalem", "Atom", "Sandybridge", "Barcelona", "Bobcat", "Bulldozer", "Piledriver",
    "Steamroller", "Excavator", "Unknown",
  ]

  /// Marks the re-executed process so it never loops; its value lists what was set.
  static let marker = "MINILLM_BLAS_REEXEC"

  /// The idle spin of OpenBLAS's threads, as the exponent of a cycle count.
  static let threadTimeout = "4"

  /// Re-executes the process with the settings above when the environment lacks them; returns
  /// normally when nothing is to change (or if `execv` fails).
  static func reexecWithTunedEnvironment() {
    let environment = ProcessInfo.processInfo.environment
    guard environment[marker] == nil else { return }
    var changed: [String] = []
    if environment["OPENBLAS_CORETYPE"] == nil, genericCores.contains(blasCoreName()),
      let target = preferredCore()
    {
      setenv("OPENBLAS_CORETYPE", target, 1)
      changed.append("coretype")
    }
    if environment["OPENBLAS_THREAD_TIMEOUT"] == nil {
      setenv("OPENBLAS_THREAD_TIMEOUT", threadTimeout, 1)
      changed.append("timeout")
    }
    if changed.isEmpty { return }
    setenv(marker, changed.joined(separator: ","), 1)
    let arguments = CommandLine.arguments
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
    argv.append(nil)
    execv("/proc/self/exe", &argv)
    // execv returned: keep running with the settings we have.
    for pointer in argv { free(pointer) }
  }

  /// `SkylakeX` when the CPU reports AVX-512 (F, DQ, BW, VL; OpenBLAS's SkylakeX kernels measure
  /// about 10 % faster than `Haswell` on such Xeons), `Haswell` with AVX2 and FMA, else `nil`.
  static func preferredCore() -> String? {
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      let flagsLine = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return nil }
    let flags = Set(flagsLine.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }))
    guard flags.contains("avx2"), flags.contains("fma") else { return nil }
    let avx512: Set<Substring> = ["avx512f", "avx512dq", "avx512bw", "avx512vl"]
    return avx512.isSubset(of: flags) ? "SkylakeX" : "Haswell"
  }

  /// `OPENBLAS_THREAD_TIMEOUT` as this process runs with it, or `"default"` (2²⁸ cycles).
  static var threadTimeoutSetting: String {
    ProcessInfo.processInfo.environment["OPENBLAS_THREAD_TIMEOUT"] ?? "default"
  }

  /// The kernel set in use and how it was chosen, for benchmark output.
  static var description: String {
    let name = blasCoreName()
    let environment = ProcessInfo.processInfo.environment
    let timeout = environment["OPENBLAS_THREAD_TIMEOUT"].map { ", thread timeout 2^\($0) cycles" }
    let chosen =
      if environment[marker]?.contains("coretype") == true {
        "set by minillm: CPU has AVX2/FMA"
      } else if environment["OPENBLAS_CORETYPE"] != nil {
        "OPENBLAS_CORETYPE"
      } else {
        "detected by OpenBLAS"
      }
    return "\(name) (\(chosen))\(timeout ?? "")"
  }
}
