import Foundation

/// Where the demo puts everything, under its output folder.
struct DemoLayout {
  let out: String

  func path(_ components: String...) -> String {
    components.reduce(out) { ($0 as NSString).appendingPathComponent($1) }
  }

  var stages: String { path("stages") }
  var corpus: String { path("corpus") }
  var corpusTrain: String { path("corpus", "train.jsonl") }
  var corpusHeldOut: String { path("corpus", "heldout.jsonl") }
  var tokenizer: String { path("tokenizer") }
  var pretrainShards: String { path("data", "pretrain") }
  var heldOutShards: String { path("data", "heldout") }
  var sftData: String { path("sft-data") }
  var sftShards: String { path("data", "sft") }
  var dpoShards: String { path("data", "dpo") }
  func run(_ name: String) -> String { path("runs", name) }
  func model(_ run: String) -> String { path("runs", run, "model") }
  var report: String { path("report.html") }
  /// The exam's task file and data, written by `demo sft-data`.
  var examTask: String { path("sft-data", "exam", "\(DemoExam.taskName).yaml") }
  var examData: String { path("sft-data", "exam", "\(DemoExam.taskName).jsonl") }
  /// Each model's exam results (`minillm eval --output`).
  var exam: String { path("exam") }
  func examResults(_ run: String) -> String { path("exam", "\(run).json") }
  var finalModel: String { path("model") }
  var gguf: String { path("minillm-demo.gguf") }

  /// Everything the demo writes (what `--fresh` removes).
  var owned: [String] {
    [
      stages, corpus, tokenizer, path("data"), sftData, path("runs"), exam, report, finalModel,
      gguf,
    ]
  }
}

/// How the time budget is shared between the training stages.
///
/// The fixed stages (corpus, tokenizer, shards, data, exam, evaluation, answers, report, export) take
/// about `fixedSeconds`; 72% of the rest goes to pretraining, whose steps follow from the
/// tokens/s a short training benchmark measured on this machine. SFT and DPO are sized when they
/// start, from the time the budget still has and the rate pretraining really reached (DPO is
/// short: at most 2 passes over its pairs), so a slow (or busy) machine gives them fewer steps
/// instead of overrunning the budget.
struct DemoPlan: Codable {
  /// The whole budget.
  var minutes: Double
  /// Training tokens/s of the nano preset measured by the probe.
  var tokensPerSecond: Double
  /// Sequences per pretraining step and tokens per sequence.
  var pretrainBatch = 8
  var sequenceLength = 256

  /// Seconds the fixed stages take on 2 cores (measured; the model is tiny).
  static let fixedSeconds = 120.0
  /// Seconds the stages after DPO take (exam, comparison, export, reports), and after SFT (DPO
  /// pairs, DPO itself, which makes at most 2 short passes over its pairs, and those).
  static let secondsAfterDPO = 65.0
  static let secondsAfterSFT = 155.0
  /// Pretraining's share of the training time; SFT gets what is left before DPO.
  static let pretrainShare = 0.72

  var budgetSeconds: Double { minutes * 60 }
  var trainingSeconds: Double { max(60, budgetSeconds - Self.fixedSeconds) }
  var pretrainSeconds: Double { trainingSeconds * Self.pretrainShare }

  /// Pretraining steps that fit `pretrainSeconds` (at least 20). A long run reaches about 0.8×
  /// the probe's rate: evaluations, checkpoints and the load of other programs, which the few
  /// probe steps miss.
  var pretrainSteps: Int {
    let rate = 0.8 * tokensPerSecond
    return max(20, Int(pretrainSeconds * rate / Double(pretrainBatch * sequenceLength)))
  }

  /// Seconds for SFT once `elapsed` seconds of stages are done: what the budget still has after
  /// the later stages.
  func sftSeconds(elapsed: Double, withDPO: Bool) -> Double {
    max(20, budgetSeconds - elapsed - (withDPO ? Self.secondsAfterSFT : Self.secondsAfterDPO))
  }

  /// Seconds for DPO once `elapsed` seconds of stages are done.
  func dpoSeconds(elapsed: Double) -> Double {
    max(15, budgetSeconds - elapsed - Self.secondsAfterDPO)
  }

  /// SFT steps of `batch` samples of `meanTokens` on average that fit `seconds` at `rate`
  /// tokens/s (pretraining's; SFT's short rows run at about the same rate), at most
  /// `maxEpochs` passes over `samples`, at least 10.
  static func sftSteps(
    seconds: Double, rate: Double, samples: Int, meanTokens: Double, batch: Int,
    maxEpochs: Double = 8
  ) -> Int {
    let tokensPerStep = Double(batch) * max(8, meanTokens)
    let steps = Int(seconds * rate / tokensPerStep)
    let cap = Int(maxEpochs * Double(samples) / Double(batch))
    return max(10, min(steps, max(10, cap)))
  }

  /// DPO steps that fit `seconds` at `rate` (pretraining's tokens/s), at most `maxEpochs`
  /// passes (more drives the loss to 0 and the policy's text to noise on this small model).
  /// Each pair is two rows (chosen, rejected) of `meanTokens`, trained through the policy and
  /// run forward through the frozen reference (a third of a training pass); measured at about
  /// 0.85× pretraining's rate, the reference pass over every pair before training included.
  static func dpoSteps(
    seconds: Double, rate: Double, pairs: Int, meanTokens: Double, batch: Int,
    maxEpochs: Double = 2
  ) -> Int {
    let tokensPerStep = Double(batch) * 2 * max(8, meanTokens) * 4 / 3
    let steps = Int(seconds * rate * 0.85 / tokensPerStep)
    let cap = Int(maxEpochs * Double(pairs) / Double(batch))
    return max(10, min(steps, max(10, cap)))
  }
}
