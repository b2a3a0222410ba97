import Foundation
import MiniLlama
import MiniTokenize

/// What a GRPO run stores in `RUN/config.json` besides the training settings.
public struct GRPOSettings: StageSettings {
  public static let stage = "grpo"
  /// `--model`, absolute.
  public var baseModel: String
  /// The model's architecture.
  public var model: LlamaConfig
  /// `--data`, absolute.
  public var data: String
  /// Prompts in the data.
  public var dataPrompts: Int
  /// The reward (`regex:…`, `exact[:…]`, `rm:DIR`).
  public var reward: String
  /// Completions per prompt.
  public var groupSize: Int
  /// Most tokens per completion.
  public var maxNewTokens: Int
  /// Sampling temperature.
  public var temperature: Float
  /// Sampling top-p.
  public var topP: Float
  /// The loss.
  public var loss: GRPOLoss
  /// Optimizer steps on each step's rollouts (`nil`: 1, the setting of runs made before it
  /// existed).
  public var numIterations: Int?
  /// The adapters, when training with LoRA.
  public var lora: LoRAConfiguration?

  enum CodingKeys: String, CodingKey {
    case model, data, reward, temperature, loss, lora
    case numIterations = "num_iterations"
    case baseModel = "base_model"
    case dataPrompts = "data_prompts"
    case groupSize = "group_size"
    case maxNewTokens = "max_new_tokens"
    case topP = "top_p"
  }

  public func structuralDifferences(from stored: GRPOSettings) -> [String] {
    var d = SettingDifferences()
    d.compare("--model (config.json)", model, stored.model)
    d.compare("--data (prompts)", dataPrompts, stored.dataPrompts)
    d.compare("--reward", reward, stored.reward)
    d.compare("--group-size", groupSize, stored.groupSize)
    d.compare("--max-new-tokens", maxNewTokens, stored.maxNewTokens)
    d.compare("--temperature", temperature, stored.temperature)
    d.compare("--top-p", topP, stored.topP)
    d.compare("--kl-coef/--clip-eps/--loss-type", loss, stored.loss)
    d.compare("--num-iterations", numIterations ?? 1, stored.numIterations ?? 1)
    d.compare("--lora-…", lora, stored.lora)
    return d.lines
  }
}

/// The settings of `minillm grpo` beyond the training flags (`nil`: the stored run's, else
/// the default).
public struct GRPOOptions: Sendable {
  public var reward: String?
  public var groupSize: Int?
  public var maxNewTokens: Int?
  public var temperature: Float?
  public var topP: Float?
  public var beta: Double?
  public var epsilon: Double?
  public var normalization: GRPOLoss.Normalization?
  /// Optimizer steps on each step's rollouts (TRL's `num_iterations`, default 1).
  public var numIterations: Int?

  /// No settings given.
  public init() {}
}

/// Group relative policy optimisation as `minillm grpo` runs it: the policy starts from a chat
/// model, samples `groupSize` completions per prompt at every micro-batch, and is trained on
/// ``GRPOLoss`` against the same model frozen as the reference.
public struct GRPOStage: TrainingStage {
  /// What the data is counted in.
  public static let unit = "completions"
  /// AdamW 0.9/0.99 without weight decay and lr 1e-6 (TRL's GRPO defaults), clip 1, 16
  /// completions per step as 2 micro-batches of 8, one epoch over the prompts, nothing held
  /// out.
  public static let defaults = TrainingDefaults(
    learningRate: 1e-6, epochs: 1, batchSize: 16, microBatchSize: 8, weightDecay: 0,
    betas: (0.9, 0.99), evalFraction: 0)

  /// `--model`.
  public var model: String?
  /// `--data`.
  public var data: String?
  /// The training settings given.
  public var options: TrainingOptions
  /// The GRPO settings given.
  public var grpo: GRPOOptions
  /// The LoRA settings given, over the stored run's: adapters train on the frozen model, which
  /// with adapters disabled is the reference.
  public var lora: LoRAOptions
  /// A reward function of one's own, used instead of the one `grpo.reward` names (which is
  /// still stored in `RUN/config.json` as its label).
  public var customReward: (any RewardFunction)?

  /// A stage.
  public init(
    model: String?, data: String?, options: TrainingOptions = TrainingOptions(),
    grpo: GRPOOptions = GRPOOptions(), lora: LoRAOptions = LoRAOptions()
  ) {
    self.lora = lora
    self.model = model
    self.data = data
    self.options = options
    self.grpo = grpo
  }

  /// The reward function of a `--reward` value.
  /// - Parameter tokenizer: `--model`'s tokenizer; a reward model (`rm:DIR`) must have its
  ///   vocabulary.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming `--reward`.
  public static func rewardFunction(
    _ spec: String, renderer: ChatRenderer, tokenizer: any Tokenizer
  ) throws -> any RewardFunction {
    if spec.hasPrefix("regex:") { return try FormatReward(pattern: String(spec.dropFirst(6))) }
    if spec == "exact" { return try ExactAnswerReward() }
    if spec.hasPrefix("exact:") {
      return try ExactAnswerReward(pattern: String(spec.dropFirst(6)))
    }
    if spec.hasPrefix("rm:") {
      let path = String(spec.dropFirst(3))
      let model = try setting("--reward") { try RewardModel(directory: path) }
      let directory = ModelDirectory(path: path)
      if let own = try? directory.loadStoredTokenizer(),
        !own.tokenizer.sharesVocabulary(with: tokenizer)
      {
        throw TrainingRunError.setting(
          "--reward", "\(directory.tokenizerFilePath) is not --model's tokenizer")
      }
      return ModelReward(model: model, renderer: renderer)
    }
    throw TrainingRunError.setting(
      "--reward", "'\(spec)' is none of regex:PATTERN, exact, exact:PATTERN, rm:DIR")
  }

  public func prepare(stored: RunConfiguration<GRPOSettings>?, in run: TrainingRun) throws -> (
    configuration: RunConfiguration<GRPOSettings>,
    session: () throws -> TrainingSession<
      ModelWithFiles<FineTuneModel>, GRPOObjective, GRPORolloutLoader
    >
  ) {
    guard let modelPath = model ?? stored?.stage.baseModel else {
      throw TrainingRunError.setting("--model", "missing (the chat model to train)")
    }
    guard let dataPath = data ?? stored?.stage.data else {
      throw TrainingRunError.setting("--data", "missing (a prompts file)")
    }
    guard let rewardSpec = grpo.reward ?? stored?.stage.reward else {
      throw TrainingRunError.setting("--reward", "missing (regex:PATTERN, exact or rm:DIR)")
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
    let groupSize = grpo.groupSize ?? stored?.stage.groupSize ?? 8
    let maxNewTokens =
      grpo.maxNewTokens ?? stored?.stage.maxNewTokens ?? min(256, max(1, context / 2))
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
    var loss = stored?.stage.loss ?? GRPOLoss()
    if let beta = grpo.beta { loss.beta = beta }
    if let epsilon = grpo.epsilon {
      loss.epsilonLow = epsilon
      loss.epsilonHigh = epsilon
    }
    if let normalization = grpo.normalization { loss.normalization = normalization }
    let settings = GRPOSettings(
      baseModel: URL(fileURLWithPath: modelPath).standardizedFileURL.path, model: llama.config,
      data: URL(fileURLWithPath: dataPath).standardizedFileURL.path, dataPrompts: records.count,
      reward: rewardSpec, groupSize: groupSize, maxNewTokens: maxNewTokens,
      temperature: grpo.temperature ?? stored?.stage.temperature ?? 1,
      topP: grpo.topP ?? stored?.stage.topP ?? 1, loss: loss,
      numIterations: grpo.numIterations ?? stored?.stage.numIterations,
      lora: try lora.resolve(over: stored?.stage.lora))
    let iterations = settings.numIterations ?? 1
    let processes = run.communicator.worldSize
    let training = try options.resolve(
      over: stored?.training, defaults: Self.defaults, processes: processes
    ) { micro, _ in
      guard micro % groupSize == 0 else {
        throw TrainingRunError.setting(
          "--micro-batch-size",
          "\(micro) completions is not a multiple of --group-size \(groupSize)")
      }
      return max(1, records.count * groupSize * iterations / (micro * processes))
    }
    let reward =
      try customReward
      ?? Self.rewardFunction(rewardSpec, renderer: renderer, tokenizer: tokenizer)
    let stops = Set((generation.eosTokenIDs + renderer.stopTokenIDs).map(Int32.init))
    let padding = Int32(
      llama.config.padTokenId ?? tokenizer.specialIDs.pad ?? tokenizer.specialIDs.eos ?? 0)
    return (
      RunConfiguration(stage: settings, training: training),
      {
        let model = try FineTuneModel(
          base: llama, lora: settings.lora, seed: training.seed, baseModelPath: settings.baseModel)
        let reference =
          loss.beta == 0 ? nil : model.lora != nil ? model.base : try loadLlama(modelPath)
        let sampler = RolloutSampler(
          sampling: SamplingOptions(
            temperature: settings.temperature, topP: settings.topP, seed: training.seed),
          maxNewTokens: maxNewTokens, stopTokens: stops)
        let loader = GRPORolloutLoader(
          policy: model.llama, reference: reference, prompts: prompts, tokenizer: tokenizer,
          sampler: sampler, reward: reward, groupSize: groupSize,
          promptsPerBatch: training.microBatchSize / groupSize,
          temperature: settings.temperature, padding: padding, seed: training.seed,
          rank: run.communicator.rank, worldSize: processes,
          microBatchesPerStep: training.batchSize / (training.microBatchSize * processes),
          iterations: iterations)
        return TrainingSession(
          model: ModelWithFiles(
            model,
            files: ChatModelFiles(
              stored: tokenizerFiles, template: template, generation: generation)
          ),
          objective: GRPOObjective(
            policy: model.llama, criterion: loss, temperature: settings.temperature),
          loader: loader, evaluationBatches: [],
          summary: "\(model.parameterSummary) from \(settings.baseModel) (and the frozen "
            + "reference), \(records.count) prompts, \(groupSize) completions each, "
            + "reward \(rewardSpec), β \(loss.beta), ε \(loss.epsilonLow)"
            + (iterations > 1 ? ", \(iterations) steps per rollout" : ""),
          unit: Self.unit)
      }
    )
  }
}
