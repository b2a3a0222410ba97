internal import COpenBLAS
import Foundation

/// The name of the OpenBLAS kernel set chosen for this CPU when the library loaded (e.g.
/// `Haswell`, `SkylakeX`, `Zen`; a generic name such as `Prescott` means the slow portable
/// kernels). OpenBLAS picks it before `main` runs, from the CPU or the `OPENBLAS_CORETYPE`
/// environment variable; executables may set that variable, libraries never read it.
///
/// Debian's OpenBLAS 0.3.21 picks its AVX2 `Haswell` kernels on AMD Zen 4/5 CPUs, which run its
/// AVX-512 `SkylakeX` kernels about twice as fast: set `OPENBLAS_CORETYPE=SkylakeX` in the
/// environment of such a process (``preferredBLASCore()`` says which value suits this CPU).
public func blasCoreName() -> String {
  guard let name = openblas_get_corename() else { return "unknown" }
  return String(cString: name)
}

/// Which of OpenBLAS's x86 kernel sets a CPU can run, for an executable that sets
/// `OPENBLAS_CORETYPE` itself: Debian's `DYNAMIC_ARCH` OpenBLAS falls back to its portable
/// `Prescott` kernels on CPUs it does not recognise (about 3× slower than the AVX2 ones), and
/// on AMD CPUs with AVX-512 it may pick its AVX2 `Haswell` or `Zen` kernels (about half the speed
/// of its `SkylakeX` ones there).
public enum BLASCoreChoice {
  /// Kernel sets that use no AVX2/FMA (OpenBLAS's names for pre-Haswell x86 cores).
  public static let genericCores: Set<String> = [
    "Prescott", "Katmai", "Coppermine", "Northwood", "Banias", "Core2", "Penryn", "Dunnington",
    "Nehalem", "Atom", "Sandybridge", "Barcelona", "Bobcat", "Bulldozer", "Piledriver",
    "Steamroller", "Excavator", "Unknown",
  ]

  /// AVX2 kernel sets that leave AVX-512 unused on a CPU that has it.
  public static let avx2Cores: Set<String> = ["Haswell", "Zen"]

  /// Whether `target` (from ``preferredCore(cpuFlags:)``) uses more of the CPU than the
  /// kernels `current`: any target beats a generic set, `SkylakeX` beats the AVX2 sets, and
  /// `Haswell` beats `Zen` (the same AVX2 kernels, but on AMD EPYCs without AVX-512 `Zen`'s
  /// blocking halves the speed of the thin products of low-rank adapters — 2048×512×8 sgemm on 2
  /// threads at 43 GFLOP/s against `Haswell`'s 81–83 — and is no faster on large ones).
  public static func isStronger(_ target: String, than current: String) -> Bool {
    if genericCores.contains(current) { return true }
    if target == "Haswell" { return current == "Zen" }
    return target == "SkylakeX" && avx2Cores.contains(current)
  }

  /// `SkylakeX` when `cpuFlags` include AVX-512 (F, DQ, BW, VL; OpenBLAS's SkylakeX kernels
  /// measure about 10 % faster than `Haswell` on such Xeons), `Haswell` with AVX2 and FMA,
  /// else `nil`.
  /// - Parameter cpuFlags: the CPU's flags as `/proc/cpuinfo` names them; `nil` reads them.
  public static func preferredCore(cpuFlags: Set<Substring>? = nil) -> String? {
    guard let flags = cpuFlags ?? currentCPUFlags(),
      flags.contains("avx2"), flags.contains("fma")
    else { return nil }
    let avx512: Set<Substring> = ["avx512f", "avx512dq", "avx512bw", "avx512vl"]
    return avx512.isSubset(of: flags) ? "SkylakeX" : "Haswell"
  }

  /// The flags of the `flags` line of `/proc/cpuinfo`, or `nil` where there is none.
  static func currentCPUFlags() -> Set<Substring>? {
    guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
      let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
    else { return nil }
    return Set(line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == ":" }))
  }
}

/// OpenBLAS's build description (`openblas_get_config()`), e.g.
/// `OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell MAX_THREADS=64`.
public func blasConfig() -> String {
  guard let config = openblas_get_config() else { return "unknown" }
  var text = String(cString: config)
  while text.last?.isWhitespace == true { text.removeLast() }
  return text
}

/// The `OPENBLAS_CORETYPE` value whose kernels use this CPU fully: `SkylakeX` when the CPU has
/// AVX-512 F, BW, DQ and VL, `Haswell` when it has AVX2 and FMA, else `nil` (OpenBLAS's own
/// choice is then as good as any); ``BLASCoreChoice/preferredCore(cpuFlags:)`` of this CPU.
public func preferredBLASCore() -> String? {
  BLASCoreChoice.preferredCore()
}
