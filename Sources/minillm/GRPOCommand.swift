import ArgumentParser
import Foundation
import MiniTrain

/// `minillm grpo`'s defaults (``GRPOStage/defaults``) and wording for the shared training flags.
enum GRPOHelp: TrainingFlagHelp {
  static let unit = GRPOStage.unit
  static let defaults = GRPOStage.defaults
  static let seedHelp = "Seed of the prompt order and of every sampled completion (default 0)."
  static let batchSizeHelp =
    "Completions per optimizer step, a multiple of --group-size (default 16)."
  static let microBatchSizeHelp =
    "Completions sampled and trained per forward/backward, a multiple of --group-size (default 8)."
}

extension GRPOLoss.Normalization: ExpressibleByArgument {}

struct GRPOCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "grpo",
    abstract: "Train a chat model by group relative policy optimisation on sampled replies.",
    discussion: """
      MODEL is a chat model directory (e.g. RUN/model of sft); it is the starting policy and, \
      frozen, the reference. PROMPTS holds JSON lines {"prompt": …, "answer": …} (answer \
      optional) or any SFT/preference file `minillm data` reads, whose last user turn is the \
      prompt. Every micro-batch samples --group-size completions of each of its prompts from \
      the current policy (KV-cached batched decoding, stopping at the end of the turn), \
      scores them with --reward, normalises the rewards within each group, \
      A = (r − mean)/(std + 1e-4), and takes the loss of TRL's GRPOTrainer: per token \
      −min(c·A, clip(c, 1−ε, 1+ε)·A) + β·k3(policy, reference), averaged per completion then \
      over completions (--loss-type grpo) or over all completion tokens (bnpo).

      --reward: regex:PATTERN (1 when the whole reply matches), exact (1 when the reply equals \
      the record's answer), exact:PATTERN (the pattern's first group of its last match is the \
      answer), rm:DIR (the score of a `minillm reward` model). metrics.jsonl gets, per step, \
      reward_mean, reward_std, kl, entropy, clip_fraction, response_length, advantage_mean, \
      advantage_std and advantage_max. See Docs/RL.md.
      """)

  @Option(help: "Chat model directory: the starting policy and the frozen reference.")
  var model: String?

  @Option(help: "Prompts file (JSON lines with \"prompt\", or SFT/preference records).")
  var data: String?

  @Option(help: "regex:PATTERN, exact, exact:PATTERN or rm:DIR.")
  var reward: String?

  @OptionGroup var output: RunFlags

  @Option(help: "Completions sampled per prompt, G (default 8).")
  var groupSize: Int?

  @Option(help: "Most tokens per completion (default: 256, at most half the context).")
  var maxNewTokens: Int?

  @Option(help: "Sampling temperature; the log-probabilities use the same (default 1).")
  var temperature: Float?

  @Option(help: "Sampling top-p (default 1).")
  var topP: Float?

  @Option(help: "KL coefficient β to the reference (default 0.04; 0 loads no reference).")
  var klCoef: Double?

  @Option(help: "Clip range ε of the ratio (default 0.2).")
  var clipEps: Double?

  @Option(help: "grpo (mean per completion, then over completions) or bnpo (mean over tokens).")
  var lossType: GRPOLoss.Normalization?

  @Option(
    help:
      "Optimizer steps on each step's rollouts (TRL's num_iterations; the clip binds from the second on; default 1)."
  )
  var numIterations: Int?

  @OptionGroup var training: TrainingFlags<GRPOHelp>

  @OptionGroup var lora: LoRAFlags

  func validate() throws {
    if let groupSize, groupSize < 2 {
      throw ValidationError("--group-size: must be ≥ 2, got \(groupSize)")
    }
    if let maxNewTokens, maxNewTokens < 1 {
      throw ValidationError("--max-new-tokens: must be ≥ 1, got \(maxNewTokens)")
    }
    if let temperature, !(temperature > 0) {
      throw ValidationError("--temperature: must be > 0, got \(temperature)")
    }
    if let topP, !(topP > 0 && topP <= 1) {
      throw ValidationError("--top-p: must be in (0, 1], got \(topP)")
    }
    if let klCoef, !(klCoef >= 0 && klCoef.isFinite) {
      throw ValidationError("--kl-coef: must be ≥ 0, got \(klCoef)")
    }
    if let numIterations, numIterations < 1 {
      throw ValidationError("--num-iterations: must be ≥ 1, got \(numIterations)")
    }
    if let clipEps, !(clipEps > 0 && clipEps < 1) {
      throw ValidationError("--clip-eps: must be in (0, 1), got \(clipEps)")
    }
  }

  func run() throws {
    var options = GRPOOptions()
    options.reward = reward
    options.groupSize = groupSize
    options.maxNewTokens = maxNewTokens
    options.temperature = temperature
    options.topP = topP
    options.beta = klCoef
    options.epsilon = clipEps
    options.normalization = lossType
    options.numIterations = numIterations
    try runTraining(
      GRPOStage(
        model: model, data: data, options: training.options, grpo: options,
        lora: lora.options),
      label: "grpo", runFlags: output, threads: training.threads)
  }
}
