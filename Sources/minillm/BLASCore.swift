import Foundation
import MiniTensor

/// Debian's OpenBLAS may pick weaker kernels than the CPU runs (see ``BLASCoreChoice``: on a
/// Zen 5 EPYC, 2048×1376×512 sgemm on 2 threads ≈ 257 GFLOP/s with its AVX2 kernels vs ≈ 490
/// with `SkylakeX`). OpenBLAS reads `OPENBLAS_CORETYPE` only when it loads, before
/// `main`, so the executable sets it and replaces itself once (`execv`) with the same
/// arguments. A value the user set is always kept. Library users set the same variable
/// themselves (Docs/Performance.md); `blasCoreName()` reports the kernels in use and
/// `preferredBLASCore()` the value that suits the CPU.
enum BLASCore {
  /// Marks the re-executed process so it never loops.
  static let marker = "MINILLM_BLAS_REEXEC"

  /// Re-executes the process with a faster `OPENBLAS_CORETYPE` when OpenBLAS picked a weaker
  /// kernel set than the CPU supports (generic kernels on a CPU with AVX2 and FMA, AVX2 kernels
  /// on one with AVX-512, `Zen` where `Haswell` runs); returns normally otherwise (or if `execv`
  /// fails).
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

  /// How the kernel set in use was chosen: `minillm` (re-executed from the CPU's flags),
  /// `OPENBLAS_CORETYPE` (set by the user) or `OpenBLAS` (its own detection).
  static var source: String {
    let environment = ProcessInfo.processInfo.environment
    if environment[marker] != nil { return "minillm" }
    if environment["OPENBLAS_CORETYPE"] != nil { return "OPENBLAS_CORETYPE" }
    return "OpenBLAS"
  }

  /// The kernel set in use and how it was chosen, for benchmark output.
  static var description: String {
    switch source {
    case "minillm": "\(blasCoreName()) (set by minillm from the CPU's flags)"
    case "OPENBLAS_CORETYPE": "\(blasCoreName()) (OPENBLAS_CORETYPE)"
    default: "\(blasCoreName()) (detected by OpenBLAS)"
    }
  }

  /// The variable that caps MiniTensor's kernel instruction set, to compare the paths.
  static let kernelsVariable = "MINILLM_KERNELS"

  /// Applies `MINILLM_KERNELS` (`portable`, `avx2`, `avx512`, `avx512-vnni`): MiniTensor's own
  /// kernels use at most that instruction set. Exits with an error line on another value.
  static func applyKernelLimit() {
    guard let value = ProcessInfo.processInfo.environment[kernelsVariable] else { return }
    guard let limit = KernelInstructionSet(name: value) else {
      let names = KernelInstructionSet.allCases.map(\.description).joined(separator: ", ")
      FileHandle.standardError.write(
        Data("error: \(kernelsVariable)=\(value): expected one of \(names)\n".utf8))
      exit(2)
    }
    limitKernelInstructionSet(to: limit)
  }

  /// The variable that chooses the products of long prompts with quantized weights.
  static let prefillVariable = "MINILLM_PREFILL"

  /// Applies `MINILLM_PREFILL` (`automatic`, `int8`, `float`): how inputs of more than 64 rows
  /// meet q8_0 and GGUF block-quantized weights. Exits with an error line on another value.
  static func applyPrefillProducts() {
    guard let value = ProcessInfo.processInfo.environment[prefillVariable] else { return }
    guard let choice = PrefillProducts(name: value) else {
      let names = PrefillProducts.allCases.map(\.description).joined(separator: ", ")
      FileHandle.standardError.write(
        Data("error: \(prefillVariable)=\(value): expected one of \(names)\n".utf8))
      exit(2)
    }
    setPrefillProducts(choice)
  }
}
