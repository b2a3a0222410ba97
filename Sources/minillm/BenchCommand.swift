import ArgumentParser
import Foundation
import MiniTensor

struct BenchCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bench",
    abstract: "Measure throughput; each benchmark ends with one JSON line.",
    subcommands: [GemmBench.self, TokenizeBench.self, TrainBench.self, GenerateBench.self]
  )
}

/// One GEMM shape from `sgemm_shapes.txt`.
struct GemmShape: Codable {
  var m: Int
  var n: Int
  var k: Int
  var layout: String
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
    var list = try shapes.map(Self.readShapes) ?? Self.defaultShapes
    if let shape {
      let fields = shape.split(separator: ",")
      guard fields.count == 4, let m = Int(fields[0]), let n = Int(fields[1]),
        let k = Int(fields[2]), m > 0, n > 0, k > 0, ["NN", "NT", "TN"].contains(fields[3])
      else {
        throw ValidationError("--shape: expected 'M,N,K,NN|NT|TN', got '\(shape)'")
      }
      list = [GemmShape(m: m, n: n, k: k, layout: String(fields[3]))]
    }
    let threadCounts = try threads.split(separator: ",").map { part -> Int in
      guard let value = Int(part), value >= 1 else {
        throw ValidationError("--threads: '\(part)' is not a positive integer")
      }
      return value
    }
    var results: [[String: Any]] = []
    print("OpenBLAS core: \(BLASCore.description)")
    for threadCount in threadCounts {
      setThreadCount(threadCount)
      for shape in list {
        let stats = Self.measure(shape, minimumSeconds: seconds)
        print(
          String(
            format: "M=%-5d N=%-5d K=%-5d %@ threads=%d  GFLOP/s median %.1f  min %.1f  max %.1f",
            shape.m, shape.n, shape.k, shape.layout, threadCount, stats.median, stats.min,
            stats.max))
        results.append([
          "m": shape.m, "n": shape.n, "k": shape.k, "layout": shape.layout,
          "threads": threadCount, "gflops_median": round1(stats.median),
          "gflops_min": round1(stats.min), "gflops_max": round1(stats.max),
        ])
      }
    }
    let json = try JSONSerialization.data(
      withJSONObject: [
        "benchmark": "gemm", "results": results, "blas_core": blasCoreName(),
      ] as [String: Any], options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
  }

  static let defaultShapes: [GemmShape] = [
    (256, 256, 256, "NN"), (512, 512, 512, "NN"), (1024, 1024, 1024, "NN"),
    (2048, 2048, 2048, "NN"), (2048, 512, 512, "NN"), (2048, 1376, 512, "NN"),
    (2048, 6400, 512, "NN"), (2048, 512, 512, "NT"), (2048, 1376, 512, "NT"),
    (2048, 6400, 512, "NT"), (2048, 512, 1376, "NT"), (512, 512, 2048, "TN"),
    (1376, 512, 2048, "TN"), (6400, 512, 2048, "TN"),
  ].map { GemmShape(m: $0.0, n: $0.1, k: $0.2, layout: $0.3) }

  static func readShapes(_ path: String) throws -> [GemmShape] {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw ValidationError("--shapes: cannot read \(path): \(error.localizedDescription)")
    }
    var result: [GemmShape] = []
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated()
    {
      let content = line.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)[0]
      let fields = content.split(whereSeparator: \.isWhitespace)
      if fields.isEmpty { continue }
      guard fields.count == 4, let m = Int(fields[0]), let n = Int(fields[1]),
        let k = Int(fields[2]), m > 0, n > 0, k > 0, ["NN", "NT", "TN"].contains(fields[3])
      else {
        throw ValidationError("\(path):\(number + 1): expected 'M N K NN|NT|TN', got '\(line)'")
      }
      result.append(GemmShape(m: m, n: n, k: k, layout: String(fields[3])))
    }
    return result
  }

  /// Times `matmul` on one shape the way `sgemm_bench.c` does: one warm-up call, then calls until
  /// at least 7 calls and `minimumSeconds` have passed; statistics over single calls.
  static func measure(_ shape: GemmShape, minimumSeconds: Double) -> (
    median: Double, min: Double, max: Double
  ) {
    var rng = PhiloxRNG(seed: 1)
    let (m, n, k) = (shape.m, shape.n, shape.k)
    let a: Tensor
    let b: Tensor
    switch shape.layout {
    case "NT":
      a = .randomUniform([m, k], in: -0.5..<0.5, using: &rng)
      b = Tensor.randomUniform([n, k], in: -0.5..<0.5, using: &rng).transposed()
    case "TN":
      a = Tensor.randomUniform([k, m], in: -0.5..<0.5, using: &rng).transposed()
      b = .randomUniform([k, n], in: -0.5..<0.5, using: &rng)
    default:
      a = .randomUniform([m, k], in: -0.5..<0.5, using: &rng)
      b = .randomUniform([k, n], in: -0.5..<0.5, using: &rng)
    }
    let flops = 2 * Double(m) * Double(n) * Double(k)
    var output = Tensor.zeros([m, n])
    matmul(a, b, into: &output)
    var samples: [Double] = []
    let start = DispatchTime.now().uptimeNanoseconds
    while samples.count < 7
      || Double(DispatchTime.now().uptimeNanoseconds - start) * 1e-9 < minimumSeconds
    {
      let t0 = DispatchTime.now().uptimeNanoseconds
      matmul(a, b, into: &output)
      let t1 = DispatchTime.now().uptimeNanoseconds
      samples.append(flops / (Double(t1 - t0) * 1e-9) * 1e-9)
    }
    samples.sort()
    let c = samples.count
    let median = c % 2 == 1 ? samples[c / 2] : 0.5 * (samples[c / 2 - 1] + samples[c / 2])
    return (median, samples[0], samples[c - 1])
  }
}

func round1(_ value: Double) -> Double { (value * 10).rounded() / 10 }
