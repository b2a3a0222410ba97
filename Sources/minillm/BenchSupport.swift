import ArgumentParser
import Foundation
import MiniLlama
import MiniTensor

extension LlamaConfig.Preset: ExpressibleByArgument {}

/// Prints `object` as one JSON line on standard output (keys sorted; `/` escaped as `\/`
/// unless `escapingSlashes` is false).
func printJSON(_ object: [String: Any], escapingSlashes: Bool = true) throws {
  let options: JSONSerialization.WritingOptions =
    escapingSlashes ? [.sortedKeys] : [.sortedKeys, .withoutEscapingSlashes]
  let data = try JSONSerialization.data(withJSONObject: object, options: options)
  print(String(decoding: data, as: UTF8.self))
}

/// What every benchmark's JSON says about the machine's compute: the OpenBLAS kernel set and how
/// it was chosen, OpenBLAS's build, the CPU's vector features and MiniTensor's kernel set.
func computeEnvironment() -> [String: Any] {
  [
    "blas_core": blasCoreName(), "blas_core_source": BLASCore.source,
    "blas_config": blasConfig(), "cpu_features": cpuFeatures(),
    "kernels": kernelInstructionSet().description,
    "kernels_detected": detectedKernelInstructionSet().description,
    "prefill_products": prefillProducts().description,
  ]
}

/// The OpenBLAS kernel set, how it was chosen and OpenBLAS's build, for the benchmarks' header.
var blasEnvironment: String { "\(BLASCore.description);  \(blasConfig())" }

/// Prints the compute environment as the benchmarks' header lines.
func printComputeEnvironment() {
  print("OpenBLAS core: \(blasEnvironment)")
  print(kernelEnvironmentLine())
}

/// Prints a benchmark's `object` with ``computeEnvironment()`` added, as one JSON line.
func printBenchJSON(_ object: [String: Any]) throws {
  try printJSON(object.merging(computeEnvironment()) { own, _ in own })
}
