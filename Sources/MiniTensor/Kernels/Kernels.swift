/// The hot non-GEMM layers of a Llama as forward/backward pairs over raw row-major `Float` buffers.
///
/// The loops over elements run in CKernels (C compiled per instruction set, chosen at run time:
/// see ``kernelInstructionSet()``), so they keep the CPU's full vector width in a build without
/// CPU flags; the Swift side checks shapes and splits rows over threads.
///
/// Every kernel follows the llm.c pattern: plain loops with shape letters, `d`-prefixed gradients,
/// no allocation beyond small per-thread scratch, and rows split over cores with `parallelFor` on
/// disjoint ranges once the work is large enough to pay for the hand-off. Gradients documented as
/// *overwritten* are written in full; gradients documented as *accumulated* are added to.
package enum Kernels {
  /// Elements of work below which a kernel stays on the calling thread: a thread hand-off costs
  /// a few microseconds, about what one core needs for this many simple element operations.
  static let parallelWork = 32_768

  /// The `grain` (rows per thread, at least) for rows of `width` elements of work each.
  @inline(__always)
  static func rowGrain(width: Int) -> Int {
    max(1, parallelWork / max(width, 1))
  }
}
