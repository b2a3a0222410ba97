import Foundation
import MiniTensor

/// Debian's OpenBLAS may pick weaker kernels than the CPU runs (see ``BLASCoreChoice``: on a
/// Zen 5 EPYC, 2048×1376×512 sgemm on 2 threads ≈ 257 GFLOP/s with its AVX2 kernels vs ≈ 490
/// with `SkylakeX`). OpenBLAS reads `OPENBLAS_CORETYPE` only when it loads, before
/// `main`, so the executable sets it and replaces itself once (`execv`) with the same
/// arguments. A value the user set is always kept. Library users set the same variable
/// themselves (Docs/Performance.md); `blasCoreName()` reports the kernels in use.
enum BLASCore {
  /// Marks the re-executed process so it never loops.
  static let marker = "MINILLM_BLAS_REEXEC"

  /// Re-executes the process with a faster `OPENBLAS_CORETYPE` when OpenBLAS picked a weaker
  /// kernel set than the CPU supports (generic kernels on a CPU with AVX2 and FMA, AVX2 kernels
  /// on one with AVX-512); returns normally otherwise (or if `execv` fails).
  static func reexecIfWeaker() {
    let environment = ProcessInfo.processInfo.environment
    guard environment["OPENBLAS_CORETYPE"] == nil, environment[marker] == nil,
      let target = BLASCoreChoice.preferredCore(),
      BLASCoreChoice.isStronger(target, than: blasCoreName())
    else { return }
    setenv("OPENBLAS_CORETYPE", target, 1)
    setenv(marker, "1", 1)
    let arguments = CommandLine.arguments
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
    argv.append(nil)
    execv("/proc/self/exe", &argv)
    // execv returned: keep running with the kernels we have.
    for pointer in argv { free(pointer) }
  }

  /// The kernel set in use and how it was chosen, for benchmark output.
  static var description: String {
    let name = blasCoreName()
    let environment = ProcessInfo.processInfo.environment
    if environment[marker] != nil { return "\(name) (set by minillm from the CPU's flags)" }
    if environment["OPENBLAS_CORETYPE"] != nil { return "\(name) (OPENBLAS_CORETYPE)" }
    return "\(name) (detected by OpenBLAS)"
  }
}
