import ArgumentParser
import Foundation
import MiniTrain

/// `minillm ppo`'s defaults (``PPOStage/defaults``) and wording for the shared training flags.
enum PPOHelp: TrainingFlagHelp {
  static let unit = PPOStage.unit
  static let defaults = PPOStage.defaults
  static let seedHelp =
    "Seed of the prompt order, of every sampled completion and of the mini-batch orders (default 0)."
  static let batchSizeHelp =
    "Completions per optimizer step (a mini-batch); a rollout batch is --batch-size × --num-mini-batches (default 16)."
  static let microBatchSizeHelp = "Completions per forward/backward (default 8)."
}

extension PPOLoss.KLEstimator: ExpressibleByArgument {}
extension PPOCritic: ExpressibleByArgument {}

struct PPOCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ppo",
    abstract: "Train a chat model by proximal policy optimisation against a reward model.",
    discussion: """
      MODEL is a chat model directory (e.g. RUN/model of sft): the starting policy and, \
      frozen, the reference; the critic is a separate value model starting as the reward \
      model (--critic separate, TRL's choice) or a value head on the policy's trunk. REWARD-MODEL is a `minillm reward` \
      output (same tokenizer). PROMPTS as for grpo: JSON lines {"prompt": …} or any \
      SFT/preference file `minillm data` reads. As TRL's PPOTrainer: a rollout batch of \
      --batch-size × --num-mini-batches prompts is answered once each by the current policy; \
      each reply token is rewarded −kl_coef·KL(policy, reference) and the reward model's score \
      is added after the last token; (optionally whitened) rewards give GAE advantages \
      (γ, λ), whitened, and returns; the batch then serves --ppo-epochs passes of \
      --num-mini-batches optimizer steps of the clipped policy loss plus vf_coef × the \
      clipped value loss. metrics.jsonl gets reward_mean, kl, kl_coef, entropy, \
      clip_fraction, value_loss, policy_loss, approx_kl, response_length and advantage \
      figures. See Docs/RL.md.
      """)

  @Option(help: "Chat model directory: the starting policy and the frozen reference.")
  var model: String?

  @Option(help: "Reward model directory (the output of `minillm reward`).")
  var rewardModel: String?

  @Option(
    help: """
      The reward as grpo names it: rm:DIR, the same as --reward-model DIR (PPO's critic starts \
      from a reward model, so the rule rewards exact and regex: are grpo's only).
      """)
  var reward: String?

  @Option(help: "Prompts file (JSON lines with \"prompt\", or SFT/preference records).")
  var data: String?

  @OptionGroup var output: RunFlags

  @Option(help: "Most tokens per completion (default: 53, at most half the context).")
  var maxNewTokens: Int?

  @Option(help: "Sampling temperature; the log-probabilities use the same (default 0.7).")
  var temperature: Float?

  @Option(help: "Sampling top-p (default 1).")
  var topP: Float?

  @Option(help: "Passes over each rollout batch (default 4).")
  var ppoEpochs: Int?

  @Option(help: "Optimizer steps per pass over a rollout batch (default 1).")
  var numMiniBatches: Int?

  @Option(
    help:
      "KL coefficient of the per-token penalty (default 0.05; the initial one with --kl-target).")
  var klCoef: Double?

  @Option(help: "k1 (logp − ref, default) or k3 (exp(ref − logp) − 1 − (ref − logp)).")
  var klEstimator: PPOLoss.KLEstimator?

  @Option(
    help: "Adaptive KL: the summed KL per completion aimed at (default: a fixed coefficient).")
  var klTarget: Double?

  @Option(help: "Adaptive KL's horizon in completions (default 10000).")
  var klHorizon: Double?

  @Option(help: "Clip range ε of the policy ratio (default 0.2).")
  var clipRange: Double?

  @Option(help: "Clip range of the values around the rollout's (default 0.2).")
  var valueClipRange: Double?

  @Option(help: "Weight of the value loss (default 0.1).")
  var vfCoef: Double?

  @Option(help: "Discount γ (default 1).")
  var gamma: Double?

  @Option(help: "GAE λ (default 0.95).")
  var lam: Double?

  @Flag(inversion: .prefixedNo, help: "Whiten the per-token rewards before GAE (default off).")
  var whitenRewards: Bool?

  @Option(
    help: """
      separate (default, as TRL's PPOTrainer: a value model starting as the reward model, \
      trained in full, saved as critic.safetensors and critic_config.json) or shared (a value head on the policy's trunk).
      """)
  var critic: PPOCritic?

  @OptionGroup var training: TrainingFlags<PPOHelp>

  @OptionGroup var lora: LoRAFlags

  func validate() throws {
    func check(_ value: Double?, _ flag: String, _ range: ClosedRange<Double>) throws {
      if let value, !(range.contains(value)) {
        throw ValidationError("\(flag): must be in \(range), got \(value)")
      }
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
    if let ppoEpochs, ppoEpochs < 1 {
      throw ValidationError("--ppo-epochs: must be ≥ 1, got \(ppoEpochs)")
    }
    if let numMiniBatches, numMiniBatches < 1 {
      throw ValidationError("--num-mini-batches: must be ≥ 1, got \(numMiniBatches)")
    }
    try check(klCoef, "--kl-coef", 0...1e6)
    if let klTarget, !(klTarget > 0 && klTarget.isFinite) {
      throw ValidationError("--kl-target: must be > 0, got \(klTarget)")
    }
    if let klHorizon, !(klHorizon > 0 && klHorizon.isFinite) {
      throw ValidationError("--kl-horizon: must be > 0, got \(klHorizon)")
    }
    try check(clipRange, "--clip-range", 1e-6...0.999_999)
    try check(valueClipRange, "--value-clip-range", 1e-6...1e6)
    try check(vfCoef, "--vf-coef", 0...1e6)
    try check(gamma, "--gamma", 0...1)
    try check(lam, "--lam", 0...1)
    _ = try rewardModelPath()
  }

  /// `--reward-model DIR`, or `--reward rm:DIR`; other rewards are refused by name.
  func rewardModelPath() throws -> String? {
    guard let reward else { return rewardModel }
    guard reward.hasPrefix("rm:"), reward.count > 3 else {
      throw ValidationError(
        "--reward: ppo takes rm:DIR (a `minillm reward` model), got '\(reward)'; "
          + "exact and regex: rewards are grpo's")
    }
    let path = String(reward.dropFirst(3))
    if let rewardModel, rewardModel != path {
      throw ValidationError(
        "--reward rm:\(path) and --reward-model \(rewardModel) name different models")
    }
    return path
  }

  func run() throws {
    var options = PPOOptions()
    options.rewardModel = try rewardModelPath()
    options.maxNewTokens = maxNewTokens
    options.temperature = temperature
    options.topP = topP
    options.ppoEpochs = ppoEpochs
    options.miniBatches = numMiniBatches
    options.klCoefficient = klCoef
    options.klEstimator = klEstimator
    options.klTarget = klTarget
    options.klHorizon = klHorizon
    options.clipRange = clipRange
    options.valueClipRange = valueClipRange
    options.valueCoefficient = vfCoef
    options.gamma = gamma
    options.lambda = lam
    options.whitenRewards = whitenRewards
    options.critic = critic
    try runTraining(
      PPOStage(
        model: model, data: data, options: training.options, ppo: options,
        lora: lora.options),
      label: "ppo", runFlags: output, threads: training.threads)
  }
}
