import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize

/// What a PPO run stores in `RUN/config.json` besides the training settings.
public struct PPOSettings: StageSettings {
  public static let stage = "ppo"
  /// `--model`, absolute.
  public var baseModel: String
  /// The model's architecture.
  public var model: LlamaConfig
  /// `--reward-model`, absolute (or the label of a reward function of one's own).
  public var rewardModel: String
  /// `--data`, absolute.
  public var data: String
  /// Prompts in the data.
  public var dataPrompts: Int
  /// Most tokens per completion.
  public var maxNewTokens: Int
  /// Sampling temperature.
  public var temperature: Float
  /// Sampling top-p.
  public var topP: Float
  /// Passes over each rollout batch.
  public var ppoEpochs: Int
  /// Optimizer steps per pass over a rollout batch.
  public var miniBatches: Int
  /// The loss.
  public var loss: PPOLoss
  /// The adapters, when training with LoRA.
  public var lora: LoRAConfiguration?
  /// The critic (`nil` in runs stored before the choice existed: shared).
  public var critic: PPOCritic?

  /// The critic in use.
  public var criticKind: PPOCritic { critic ?? .shared }

  enum CodingKeys: String, CodingKey {
    case model, data, temperature, loss, lora, critic
    case baseModel = "base_model"
    case rewardModel = "reward_model"
    case dataPrompts = "data_prompts"
    case maxNewTokens = "max_new_tokens"
    case topP = "top_p"
    case ppoEpochs = "num_ppo_epochs"
    case miniBatches = "num_mini_batches"
  }

  public func structuralDifferences(from stored: PPOSettings) -> [String] {
    var d = SettingDifferences()
    d.compare("--model (config.json)", model, stored.model)
    d.compare("--data (prompts)", dataPrompts, stored.dataPrompts)
    d.compare("--reward-model", rewardModel, stored.rewardModel)
    d.compare("--max-new-tokens", maxNewTokens, stored.maxNewTokens)
    d.compare("--temperature", temperature, stored.temperature)
    d.compare("--top-p", topP, stored.topP)
    d.compare("--ppo-epochs", ppoEpochs, stored.ppoEpochs)
    d.compare("--num-mini-batches", miniBatches, stored.miniBatches)
    d.compare("the PPO loss flags", loss, stored.loss)
    d.compare("--lora-…", lora, stored.lora)
    d.compare("--critic", criticKind, stored.criticKind)
    return d.lines
  }
}

/// The settings of `minillm ppo` beyond the training flags (`nil`: the stored run's, else the
/// default).
public struct PPOOptions: Sendable {
  public var rewardModel: String?
  public var maxNewTokens: Int?
  public var temperature: Float?
  public var topP: Float?
  public var ppoEpochs: Int?
  public var miniBatches: Int?
  public var klCoefficient: Double?
  public var klEstimator: PPOLoss.KLEstimator?
  /// The adaptive KL controller's target (sets adaptive KL).
  public var klTarget: Double?
  public var klHorizon: Double?
  public var clipRange: Double?
  public var valueClipRange: Double?
  public var valueCoefficient: Double?
  public var gamma: Double?
  public var lambda: Double?
  public var whitenRewards: Bool?
  /// The critic (default ``PPOCritic/separate``, as TRL).
  public var critic: PPOCritic?

  /// No settings given.
  public init() {}

  /// The loss: these settings over `stored` over TRL's defaults.
  public func loss(over stored: PPOLoss?) -> PPOLoss {
    var loss = stored ?? PPOLoss()
    if let klCoefficient { loss.klCoefficient = klCoefficient }
    if let klEstimator { loss.klEstimator = klEstimator }
    if let klTarget {
      loss.adaptiveKL = PPOLoss.AdaptiveKL(
        target: klTarget, horizon: klHorizon ?? loss.adaptiveKL?.horizon ?? 10_000)
    } else if let klHorizon, loss.adaptiveKL != nil {
      loss.adaptiveKL?.horizon = klHorizon
    }
    if let clipRange { loss.clipRange = clipRange }
    if let valueClipRange { loss.valueClipRange = valueClipRange }
    if let valueCoefficient { loss.valueCoefficient = valueCoefficient }
    if let gamma { loss.gamma = gamma }
    if let lambda { loss.lambda = lambda }
    if let whitenRewards { loss.whitenRewards = whitenRewards }
    return loss
  }
}

/// Proximal policy optimisation as `minillm ppo` runs it (TRL's `PPOTrainer`): the policy
/// (a chat model with its critic: by default, as TRL, a separate value model starting as the
/// reward model; or a value head on its trunk) samples one completion per prompt into
/// rollout batches of `batch-size × num-mini-batches` completions, scored by a reward model
/// and penalised per token by the KL to the same chat model frozen; each rollout batch then
/// serves `ppoEpochs × miniBatches` optimizer steps of ``PPOLoss``.
public struct PPOStage: TrainingStage {
  /// What the data is counted in.
  public static let unit = "completions"
  /// TRL's `PPOConfig` defaults where they apply: lr 3e-6, AdamW 0.9/0.999 without weight
  /// decay, 16 completions per step as 2 micro-batches of 8, one pass over the prompts,
  /// nothing held out.
  public static let defaults = TrainingDefaults(
    learningRate: 3e-6, epochs: 1, batchSize: 16, microBatchSize: 8, weightDecay: 0,
    betas: (0.9, 0.999), evalFraction: 0)

  /// `--model`.
  public var model: String?
  /// `--data`.
  public var data: String?
  /// The training settings given.
  public var options: TrainingOptions
  /// The PPO settings given.
  public var ppo: PPOOptions
  /// The LoRA settings given, over the stored run's.
  public var lora: LoRAOptions
  /// A reward function of one's own, used instead of the reward model (`ppo.rewardModel` is
  /// then only its label in `RUN/config.json`).
  public var customReward: (any RewardFunction)?

  /// A stage.
  public init(
    model: String?, data: String?, options: TrainingOptions = TrainingOptions(),
    ppo: PPOOptions = PPOOptions(), lora: LoRAOptions = LoRAOptions()
  ) {
    self.lora = lora
    self.model = model
    self.data = data
    self.options = options
    self.ppo = ppo
  }

  public func prepare(stored: RunConfiguration<PPOSettings>?, in run: TrainingRun) throws -> (
    configuration: RunConfiguration<PPOSettings>,
    session: () throws -> TrainingSession<ModelWithFiles<PPOPolicy>, PPOObjective, PPORolloutLoader>
  ) {
    guard let modelPath = model ?? stored?.stage.baseModel else {
      throw TrainingRunError.setting("--model", "missing (the chat model to train)")
    }
    guard let dataPath = data ?? stored?.stage.data else {
      throw TrainingRunError.setting("--data", "missing (a prompts file)")
    }
    guard let rewardPath = ppo.rewardModel ?? stored?.stage.rewardModel else {
      throw TrainingRunError.setting("--reward-model", "missing (a `minillm reward` model)")
    }
    let directory = ModelDirectory(path: modelPath)
    let llama = try loadLlama(modelPath)
    let tokenizerFiles = try setting("--model") { try directory.loadStoredTokenizer() }
    let tokenizer = tokenizerFiles.tokenizer
    let template = try setting("--model") { try directory.loadChatTemplate() }
    let renderer = try setting("--model") {
      try ChatRenderer(template: template, tokenizer: tokenizer)
    }
    let generation = try setting("--model") { try directory.loadGenerationConfig() }
    let records = try PromptSet.read(dataPath)
    let context = llama.config.maxPositions
    let maxNewTokens =
      ppo.maxNewTokens ?? stored?.stage.maxNewTokens ?? min(53, max(1, context / 2))
    let prompts = try records.enumerated().map { n, record in
      let ids = try setting("--data", prefix: "\(dataPath): prompt \(n + 1): ") {
        try renderer.renderPrompt(for: record.conversation)
      }
      guard ids.count + 1 < context else {
        throw TrainingRunError.setting(
          "--data",
          "\(dataPath): prompt \(n + 1) takes \(ids.count) tokens, leaving no room in the "
            + "context of \(context)")
      }
      return (record: record, ids: ids)
    }
    let loss = ppo.loss(over: stored?.stage.loss)
    let ppoEpochs = ppo.ppoEpochs ?? stored?.stage.ppoEpochs ?? 4
    let miniBatches = ppo.miniBatches ?? stored?.stage.miniBatches ?? 1
    let settings = PPOSettings(
      baseModel: URL(fileURLWithPath: modelPath).standardizedFileURL.path, model: llama.config,
      rewardModel: customReward == nil
        ? URL(fileURLWithPath: rewardPath).standardizedFileURL.path : rewardPath,
      data: URL(fileURLWithPath: dataPath).standardizedFileURL.path, dataPrompts: records.count,
      maxNewTokens: maxNewTokens, temperature: ppo.temperature ?? stored?.stage.temperature ?? 0.7,
      topP: ppo.topP ?? stored?.stage.topP ?? 1, ppoEpochs: ppoEpochs, miniBatches: miniBatches,
      loss: loss, lora: try lora.resolve(over: stored?.stage.lora),
      critic: ppo.critic ?? stored?.stage.criticKind ?? .separate)
    let processes = run.communicator.worldSize
    let training = try options.resolve(
      over: stored?.training, defaults: Self.defaults, processes: processes
    ) { micro, _ in
      max(1, records.count * ppoEpochs / (micro * processes))
    }
    let reward: any RewardFunction
    // TRL's value model: the reward model (trunk and head) when there is one; with a reward
    // function of one's own, the policy's trunk and a zero head.
    var criticStart: RewardModel?
    if let customReward {
      reward = customReward
      if settings.criticKind == .separate {
        let start = try RewardModel(languageModel: llama)
        start.score.assign(Tensor.zeros(start.score.shape))
        criticStart = start
      }
    } else {
      let model = try setting("--reward-model") { try RewardModel(directory: rewardPath) }
      if settings.criticKind == .separate { criticStart = model }
      let rewardDirectory = ModelDirectory(path: rewardPath)
      if let own = try? rewardDirectory.loadStoredTokenizer(),
        !own.tokenizer.sharesVocabulary(with: tokenizer)
      {
        throw TrainingRunError.setting(
          "--reward-model", "\(rewardDirectory.tokenizerFilePath) is not --model's tokenizer")
      }
      reward = ModelReward(model: model, renderer: renderer)
    }
    let stops = Set((generation.eosTokenIDs + renderer.stopTokenIDs).map(Int32.init))
    let padding = Int32(
      llama.config.padTokenId ?? tokenizer.specialIDs.pad ?? tokenizer.specialIDs.eos ?? 0)
    return (
      RunConfiguration(stage: settings, training: training),
      {
        let policy = try PPOPolicy(
          languageModel: llama, critic: criticStart, lora: settings.lora, seed: training.seed,
          baseModelPath: settings.baseModel)
        let reference = try policy.base ?? loadLlama(modelPath)
        let sampler = RolloutSampler(
          sampling: SamplingOptions(
            temperature: settings.temperature, topP: settings.topP, seed: training.seed),
          maxNewTokens: maxNewTokens, stopTokens: stops)
        var loader = PPORolloutLoader(
          policy: policy, reference: reference, prompts: prompts, tokenizer: tokenizer,
          sampler: sampler, reward: reward, criterion: loss,
          rolloutSize: training.batchSize / processes * miniBatches,
          microBatchSize: training.microBatchSize, epochs: ppoEpochs,
          temperature: settings.temperature, padding: padding, seed: training.seed,
          rank: run.communicator.rank, worldSize: processes)
        loader.communicator = run.communicator
        return TrainingSession(
          model: ModelWithFiles(
            policy,
            files: ChatModelFiles(
              stored: tokenizerFiles, template: template, generation: generation)
          ),
          objective: PPOObjective(
            policy: policy, criterion: loss, temperature: settings.temperature),
          loader: loader, evaluationBatches: [],
          summary: "\(policy.parameterSummary) from \(settings.baseModel) (and the frozen "
            + "reference), \(records.count) prompts, reward model "
            + "\(settings.rewardModel), \(ppoEpochs) PPO epochs × \(miniBatches) mini-batches "
            + "per rollout batch, KL coefficient \(loss.klCoefficient)"
            + (loss.adaptiveKL != nil ? " (adaptive)" : ""),
          unit: Self.unit)
      }
    )
  }
}
