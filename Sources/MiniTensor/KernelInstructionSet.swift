internal import CKernels

/// The instruction sets MiniTensor's own kernels (RMSNorm, softmax, SwiGLU, RoPE, cross-entropy,
/// AdamW, decoding matrix-vector products, q8_0 dot products) are compiled for. The best one the
/// CPU runs is chosen at run time, so a package built without CPU flags runs at full width.
public enum KernelInstructionSet: Int, Sendable, CaseIterable, Comparable, CustomStringConvertible {
  /// Portable C (SSE2 on x86-64).
  case portable = 0
  /// AVX2 and FMA.
  case avx2 = 1
  /// AVX-512 F, BW, DQ and VL.
  case avx512 = 2
  /// AVX-512 with VNNI for the int8 dot products.
  case avx512VNNI = 3

  /// `portable`, `avx2`, `avx512` or `avx512-vnni`.
  public var description: String {
    switch self {
    case .portable: "portable"
    case .avx2: "avx2"
    case .avx512: "avx512"
    case .avx512VNNI: "avx512-vnni"
    }
  }

  /// The set named `name` (as ``description`` spells it), or `nil`.
  public init?(name: String) {
    guard let match = Self.allCases.first(where: { $0.description == name }) else { return nil }
    self = match
  }

  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// The best instruction set this CPU runs.
public func detectedKernelInstructionSet() -> KernelInstructionSet {
  KernelInstructionSet(rawValue: Int(ck_detected_isa().rawValue)) ?? .portable
}

/// The instruction set the kernels use: the detected one, capped by
/// ``limitKernelInstructionSet(to:)``.
public func kernelInstructionSet() -> KernelInstructionSet {
  KernelInstructionSet(rawValue: Int(ck_active_isa().rawValue)) ?? .portable
}

/// Caps the instruction set of every later kernel call, process-wide (as ``setThreadCount(_:)``),
/// to compare the paths: `.portable` forces the portable code, the CPU's own set (or above)
/// lifts the cap. Results agree across sets within rounding.
public func limitKernelInstructionSet(to limit: KernelInstructionSet) {
  ck_set_isa_limit(ck_isa(rawValue: UInt32(limit.rawValue)))
}

/// The vector features this CPU reports among those that matter to the kernels and to OpenBLAS:
/// `avx`, `avx2`, `fma`, `f16c`, `avx512f`, `avx512bw`, `avx512dq`, `avx512vl`, `avx512vnni`,
/// `avx512bf16`, `avx512fp16`, `avxvnni`, `amx-tile`, `amx-bf16`, `amx-int8`.
public func cpuFeatures() -> [String] {
  let names = [
    "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512dq", "avx512vl", "avx512vnni",
    "avx512bf16", "avx512fp16", "avxvnni", "amx-tile", "amx-bf16", "amx-int8",
  ]
  return names.filter { name in name.withCString { ck_cpu_supports($0) != 0 } }
}

/// The machine's peak `Float` multiply-add throughput in GFLOP/s on `threadCount()` threads: each
/// thread runs independent fused multiply-adds on the widest registers of
/// ``kernelInstructionSet()`` (multiply then add on the portable path) for about `seconds`; the
/// best of the timed rounds counts.
package func measureFMAPeak(seconds: Double = 0.5) -> Double {
  let threads = threadCount()
  let iterations = 2_000_000
  var best: Double = 0
  let start = BenchClock.now()
  repeat {
    let t0 = BenchClock.now()
    var flops = [Double](repeating: 0, count: threads)
    flops.withUnsafeMutableBufferPointer { buffer in
      let out = UncheckedSendable(buffer.baseAddress!)
      parallelFor(threads, grain: 1) { range in
        for index in range { out.value[index] = ck_fma_peak_loop(iterations) }
      }
    }
    let elapsed = BenchClock.now() - t0
    best = max(best, flops.reduce(0, +) / elapsed * 1e-9)
  } while BenchClock.now() - start < seconds
  return best
}

/// The CPU's vector features and MiniTensor's kernel set (in use, and what the CPU allows), as
/// the benchmarks' header line.
package func kernelEnvironmentLine() -> String {
  "CPU features: \(cpuFeatures().joined(separator: " "));  MiniTensor kernels: "
    + "\(kernelInstructionSet()) (CPU: \(detectedKernelInstructionSet()))"
}
