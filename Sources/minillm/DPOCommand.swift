import ArgumentParser
import Foundation
import MiniTrain

/// `minillm dpo`'s defaults (``DPOStage/defaults``) and wording for the shared training flags.
enum DPOHelp: TrainingFlagHelp {
  static let unit = DPOStage.unit
  static let defaults = DPOStage.defaults
  static let seedHelp = "Seed of the data order and of the held-out split (default 0)."
  static let batchSizeHelp = "Pairs per optimizer step (default 8)."
  static let microBatchSizeHelp =
    "Pairs per forward/backward (each gives two sequences); --batch-size must be a multiple (default 2)."
}

extension DPOLoss.Kind: ExpressibleByArgument {}

struct DPOCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dpo",
    abstract: "Align an SFT model with direct preference optimisation on preference shards.",
    discussion: """
      MODEL is a chat model directory (e.g. RUN/model of sft); DIR is made by `minillm data \
      dpo` with MODEL's tokenizer. The policy starts from MODEL and is trained; MODEL also \
      serves as the frozen reference. A reply's log-likelihood is the sum over its tokens and \
      its end-of-turn token; with d = (policy chosen − policy rejected) − (reference chosen − \
      reference rejected), the losses are sigmoid −log σ(β·d) (with --label-smoothing ε: \
      −(1−ε)·log σ(β·d) − ε·log σ(−β·d)), ipo (d − 1/(2β))² on per-token mean \
      log-likelihoods, and hinge max(0, 1 − β·d), as TRL defines them. By default the \
      reference's log-likelihoods are computed once for every pair before training and kept \
      in RUN/reference_logps.safetensors (a resumed run reads them back).

      metrics.jsonl gets, per step, loss, chosen_reward and rejected_reward (β·(policy − \
      reference) log-likelihood), reward_accuracy (pairs whose chosen reward is higher), \
      margin (chosen − rejected reward), chosen_logp and rejected_logp, and the same with an \
      eval_ prefix on the held-out pairs. RUN/model is a chat-ready model directory with \
      MODEL's tokenizer, template and sampling defaults. Ctrl-C, --resume and --overwrite work \
      as for pretrain and sft. See Docs/Alignment.md.
      """)

  @OptionGroup var inputs: FineTuneFlags<DPOHelp>

  @Option(help: "Strength of the tie to the reference, β (default 0.1).")
  var beta: Double?

  @Option(help: "Loss: sigmoid (DPO), ipo or hinge (default sigmoid).")
  var loss: DPOLoss.Kind?

  @Option(help: "Label smoothing ε of the sigmoid loss, in [0, 0.5) (default 0).")
  var labelSmoothing: Double?

  @Flag(
    inversion: .prefixedNo,
    help:
      "Compute the reference's log-likelihoods once before training (default) rather than at every step."
  )
  var precomputeReference: Bool?

  @OptionGroup var training: TrainingFlags<DPOHelp>

  func validate() throws {
    if let beta, !(beta > 0 && beta.isFinite) {
      throw ValidationError("--beta: must be > 0, got \(beta)")
    }
    if let labelSmoothing, !(labelSmoothing >= 0 && labelSmoothing < 0.5) {
      throw ValidationError("--label-smoothing: must be in [0, 0.5), got \(labelSmoothing)")
    }
  }

  func run() throws {
    let given = DPOSettings.Options(
      kind: loss, beta: beta, labelSmoothing: labelSmoothing, precompute: precomputeReference)
    try runTraining(
      DPOStage(inputs.inputs(training), loss: given), label: "dpo", runFlags: inputs.run,
      threads: training.threads)
  }
}

extension DPOHelp: PreferenceFlagHelp {
  static let modelHelp = "SFT model directory: the starting policy and the frozen reference."
}
