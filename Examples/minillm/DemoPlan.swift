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
  var finalModel: String { path("model") }
  var gguf: String { path("minillm-demo.gguf") }

  /// Everything the demo writes (what `--fresh` removes).
  var owned: [String] {
    [stages, corpus, tokenizer, path("data"), sftData, path("runs"), report, finalModel, gguf]
  }
}

/// How the time budget is shared between the training stages.
///
/// The fixed stages (corpus, tokenizer, shards, data, evaluation, answers, report, export) take
/// about `fixedSeconds`; the rest goes to pretraining, SFT and DPO in the ratio 70 : 22 : 8.
/// Steps follow from the tokens/s a short training benchmark measured on this machine.
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
  static let shares = (pretrain: 0.70, sft: 0.22, dpo: 0.08)

  var trainingSeconds: Double { max(60, minutes * 60 - Self.fixedSeconds) }
  var pretrainSeconds: Double { trainingSeconds * Self.shares.pretrain }
  var sftSeconds: Double { trainingSeconds * Self.shares.sft }
  var dpoSeconds: Double { trainingSeconds * Self.shares.dpo }

  /// Pretraining steps that fit `pretrainSeconds` (at least 20). A long run reaches about 0.8×
  /// the probe's rate: evaluations, checkpoints and the load of other programs, which the few
  /// probe steps miss.
  var pretrainSteps: Int {
    let rate = 0.8 * tokensPerSecond
    return max(20, Int(pretrainSeconds * rate / Double(pretrainBatch * sequenceLength)))
  }

  /// SFT steps that fit `sftSeconds` for samples of `meanTokens` on average, at most
  /// `maxEpochs` passes over `samples`.
  func sftSteps(samples: Int, meanTokens: Double, batch: Int, maxEpochs: Double = 8) -> Int {
    // Measured: SFT on short samples runs at about 1.1× the probe's tokens/s (short rows make
    // attention cheap; padding is small with length-grouped batches).
    let tokensPerStep = Double(batch) * max(8, meanTokens)
    let steps = Int(sftSeconds * tokensPerSecond * 1.1 / tokensPerStep)
    let cap = Int(maxEpochs * Double(samples) / Double(batch))
    return max(10, min(steps, max(10, cap)))
  }

  /// DPO steps that fit `dpoSeconds`, at most `maxEpochs` passes (more drives the loss to 0 and
  /// the policy's text to noise on this small model): each pair is two rows (chosen, rejected) of
  /// `meanTokens`, trained through the policy and run forward through the frozen reference
  /// (a third of a training pass); measured at about 0.8× the probe's rate, the reference
  /// pass over every pair before training included.
  func dpoSteps(pairs: Int, meanTokens: Double, batch: Int, maxEpochs: Double = 2) -> Int {
    let tokensPerStep = Double(batch) * 2 * max(8, meanTokens) * 4 / 3
    let steps = Int(dpoSeconds * tokensPerSecond * 0.8 / tokensPerStep)
    let cap = Int(maxEpochs * Double(pairs) / Double(batch))
    return max(10, min(steps, max(10, cap)))
  }
}
