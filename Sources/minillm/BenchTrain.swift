import ArgumentParser
import Foundation
import MiniLlama
import MiniTrain

struct TrainBench: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "train",
    abstract: "Tokens/s, GFLOP/s and MFU of full training steps on random tokens.",
    discussion: """
      Each step is forward, loss, backward, AdamW and zero-grad at the preset's batch and
      sequence length. FLOPs per token are 6·N + 12·L·d·T (N: all parameters but the input
      embedding). MFU is against a 2048³ sgemm measured in the same process ("mfu"), against the
      best of that and the model's largest product ("mfu_best_gemm"), and against the CPU's f32
      multiply-add peak measured on the same threads ("mfu_fma_peak").
      """)

  @Option(
    help: "Model preset (\(LlamaConfig.Preset.allCases.map(\.rawValue).joined(separator: ", "))).")
  var preset: LlamaConfig.Preset = .tiny

  @Option(help: "Timed steps.")
  var steps: Int = 10

  @Option(help: "Untimed warm-up steps.")
  var warmup: Int = 2

  @Option(help: "Sequences per step (default: the preset's).")
  var batchSize: Int?

  @Option(help: "Tokens per sequence (default: the preset's).")
  var seqLen: Int?

  @Option(help: "Seconds of sgemm calls for the GEMM peak.")
  var gemmSeconds: Double = 2

  @Flag(
    help: """
      Time every matrix product of the timed steps by shape and print the table (seconds per step \
      summed over threads, GFLOP/s per call); adds "gemm_profile" to the JSON.
      """)
  var gemmProfile = false

  @OptionGroup(title: "LoRA (train adapters on the frozen model, as PEFT does)")
  var lora: LoRAFlags

  @OptionGroup var threadOptions: ThreadOptions

  func run() throws {
    try threadOptions.apply()
    guard steps >= 1, warmup >= 0 else {
      throw CommandLineError("--steps must be ≥ 1 and --warmup ≥ 0")
    }
    let batch = batchSize ?? preset.batchSize
    let sequence = seqLen ?? preset.sequenceLength
    guard batch >= 1, sequence >= 2 else {
      throw CommandLineError("--batch-size must be ≥ 1 and --seq-len ≥ 2")
    }
    let adapters = try lora.options.resolve(over: nil)
    let report = TrainingStepBenchmark(
      config: LlamaConfig.preset(preset), batch: batch, sequence: sequence, lora: adapters
    ).report(
      name: preset.rawValue, steps: steps, warmup: warmup, profile: gemmProfile,
      gemmSeconds: gemmSeconds, blasCore: blasEnvironment)
    for line in report.lines { print(line) }
    try printBenchJSON(report.json)
  }
}
