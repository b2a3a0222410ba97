internal import COpenBLAS

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
/// choice is then as good as any).
public func preferredBLASCore() -> String? {
  switch detectedKernelInstructionSet() {
  case .avx512, .avx512VNNI: "SkylakeX"
  case .avx2: "Haswell"
  case .portable: nil
  }
}
