import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor

extension LlamaConfig.Preset: ExpressibleByArgument {}

/// The GEMM peak a benchmark's MFU is measured against: a square `size³` sgemm (NN) through
/// MiniTensor on the current thread setting, median GFLOP/s over `seconds` of calls.
func measureGemmPeak(size: Int = 2048, seconds: Double = 2) -> Double {
  GemmShape(m: size, n: size, k: size, layout: "NN").measure(minimumSeconds: seconds).median
}

/// What every benchmark's JSON says about the machine's compute: the OpenBLAS kernel set and how
/// it was chosen, OpenBLAS's build, the CPU's vector features and MiniTensor's kernel set.
func computeEnvironment() -> [String: Any] {
  [
    "blas_core": blasCoreName(), "blas_core_source": BLASCore.source,
    "blas_config": blasConfig(), "cpu_features": cpuFeatures(),
    "kernels": kernelInstructionSet().description,
    "kernels_detected": detectedKernelInstructionSet().description,
  ]
}

/// Prints the compute environment as the benchmarks' header lines.
func printComputeEnvironment() {
  print("OpenBLAS core: \(BLASCore.description);  \(blasConfig())")
  print(
    "CPU features: \(cpuFeatures().joined(separator: " "));  MiniTensor kernels: "
      + "\(kernelInstructionSet()) (CPU: \(detectedKernelInstructionSet()))")
}

/// Prints `object` with ``computeEnvironment()`` added as one JSON line (keys sorted).
func printJSONLine(_ object: [String: Any]) throws {
  let merged = object.merging(computeEnvironment()) { own, _ in own }
  let data = try JSONSerialization.data(withJSONObject: merged, options: [.sortedKeys])
  print(String(decoding: data, as: UTF8.self))
}
