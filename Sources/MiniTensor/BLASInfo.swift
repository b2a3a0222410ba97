internal import COpenBLAS

/// The name of the OpenBLAS kernel set chosen for this CPU when the library loaded (e.g.
/// `Haswell`, `SkylakeX`, `Zen`; a generic name such as `Prescott` means the slow portable
/// kernels). OpenBLAS picks it before `main` runs, from the CPU or the `OPENBLAS_CORETYPE`
/// environment variable; executables may set that variable, libraries never read it.
public func blasCoreName() -> String {
  guard let name = openblas_get_corename() else { return "unknown" }
  return String(cString: name)
}
