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

/// Prints `object` as one JSON line (keys sorted).
func printJSONLine(_ object: [String: Any]) throws {
  let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
  print(String(decoding: data, as: UTF8.self))
}
