import ArgumentParser
import Foundation
import MiniTensor

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure throughput; each benchmark ends with one JSON line.",
    subcommands: [
      GemmBench.self, TokenizeBench.self, TrainBench.self, GenerateBench.self, DecodeBench.self,
    ]
  )
}

struct GemmBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "gemm",
    abstract: "GFLOP/s of cblas_sgemm through MiniTensor for LLM-shaped products, 1 and 2 threads."
  )

  @Option(help: "A shapes file with lines 'M N K NN|NT|TN' (default: the built-in list).")
  var shapes: String?

  @Option(help: "Measure only this shape, written 'M,N,K,NN|NT|TN'.")
  var shape: String?

  @Option(help: "Thread counts to measure, comma-separated.")
  var threads: String = "1,2"

  @Option(help: "Minimum seconds of timed calls per shape and thread count.")
  var seconds: Double = 2

  func run() throws {
    var list =
      try shapes.map { path in
        do {
          return try GemmShape.list(contentsOf: path)
        } catch GemmShapeFileError.unreadable(let message) {
          throw ValidationError("--shapes: \(message)")
        } catch {
          throw ValidationError("\(error)")
        }
      } ?? GemmShape.defaults
    if let shape {
      guard let parsed = GemmShape(fields: shape.split(separator: ",")) else {
        throw ValidationError("--shape: expected 'M,N,K,NN|NT|TN', got '\(shape)'")
      }
      list = [parsed]
    }
    let threadCounts = try threads.split(separator: ",").map { part -> Int in
      guard let value = Int(part), value >= 1 else {
        throw ValidationError("--threads: '\(part)' is not a positive integer")
      }
      return value
    }
    var results: [[String: Any]] = []
    printComputeEnvironment()
    for threadCount in threadCounts {
      setThreadCount(threadCount)
      for shape in list {
        let stats = shape.measure(minimumSeconds: seconds)
        print(
          String(
            format: "M=%-5d N=%-5d K=%-5d %@ threads=%d  GFLOP/s median %.1f  min %.1f  max %.1f",
            shape.m, shape.n, shape.k, shape.layout, threadCount, stats.median, stats.min,
            stats.max))
        results.append([
          "m": shape.m, "n": shape.n, "k": shape.k, "layout": shape.layout,
          "threads": threadCount, "gflops_median": rounded(stats.median, 1),
          "gflops_min": rounded(stats.min, 1), "gflops_max": rounded(stats.max, 1),
        ])
      }
    }
    try printBenchJSON(["benchmark": "gemm", "results": results])
  }
}
