import Foundation
import MiniLlama

/// The inputs every fine-tuning stage reads: the starting model, the shards, the length limit
/// and the training settings given. What is `nil` comes from the stored run (on resume) or
/// the stage's defaults.
public struct FineTuneInputs: Sendable {
  /// The starting model directory.
  public var model: String?
  /// The shard folder made by `minillm data sft|dpo` with the model's tokenizer.
  public var data: String?
  /// Most tokens of a sample or pair (default and maximum: the model's context).
  public var maxLength: Int?
  /// The training settings given: the top layer over the stored run's and the defaults.
  public var options: TrainingOptions
  /// The LoRA settings given, over the stored run's: with a rank (given or stored), low-rank
  /// adapters train on the frozen base and the run writes `RUN/adapter/` instead of
  /// `RUN/model/`.
  public var lora: LoRAOptions

  /// Inputs from their parts.
  public init(
    model: String?, data: String?, maxLength: Int? = nil,
    options: TrainingOptions = TrainingOptions(), lora: LoRAOptions = LoRAOptions()
  ) {
    self.model = model
    self.data = data
    self.maxLength = maxLength
    self.options = options
    self.lora = lora
  }

  /// The model and data of the session, and its training settings: ``options`` over the
  /// stored run's over `defaults`, checked against the data.
  func load<Input: FineTuneTrainingData>(
    _: Input.Type, defaults: TrainingDefaults,
    stored: (data: FineTuneDataSettings, training: TrainingSettings)?, run: TrainingRun
  ) throws -> (input: Input, training: TrainingSettings) {
    let input = try Input.load(
      model: model, data: data, maxLength: maxLength, stored: stored?.data,
      frozenBase: try lora.resolve(over: stored?.data.lora) != nil, run: run)
    let processes = run.communicator.worldSize
    let training = try options.resolve(
      over: stored?.training, defaults: defaults, processes: processes
    ) { try input.microBatchesPerEpoch($0, $1, processes: processes) }
    return (input, training)
  }

  /// The data settings of the session: `input`'s, with the adapters of ``lora`` over the
  /// stored run's.
  func settings(
    _ input: some FineTuneTrainingData, stored: FineTuneDataSettings?
  ) throws -> FineTuneDataSettings {
    var settings = input.settings
    settings.lora = try lora.resolve(over: stored?.lora)
    return settings
  }
}

/// Supervised fine-tuning as `minillm sft` runs it: next-token loss on the assistant's
/// replies of SFT shards, from a base model, saved as a chat-ready model directory (or, with
/// LoRA, as an adapter folder with the chat files).
public struct SFTStage: TrainingStage {
  /// What the data is counted in.
  public static let unit = "samples"
  /// AdamW 0.9/0.95, lr 2e-5 with warmup and cosine decay, clip 1 (baby-llama2-chinese's SFT
  /// settings) and 3 epochs of batch 8, enough for a small data set such as a self-cognition
  /// one to be learnt without many passes over it; 2% held out.
  public static let defaults = TrainingDefaults(
    learningRate: 2e-5, epochs: 3, batchSize: 8, evalFraction: 0.02)

  /// The base model, the SFT shards and the settings given.
  public var inputs: FineTuneInputs

  /// A stage of `inputs`.
  public init(_ inputs: FineTuneInputs) { self.inputs = inputs }

  public func prepare(stored: RunConfiguration<SFTSettings>?, in run: TrainingRun) throws -> (
    configuration: RunConfiguration<SFTSettings>,
    session: () throws -> TrainingSession<
      ModelWithFiles<FineTuneModel>, SupervisedFineTuningObjective, SFTLoader
    >
  ) {
    let (input, training) = try inputs.load(
      SFTTrainingData.self, defaults: Self.defaults,
      stored: stored.map { ($0.stage.data, $0.training) }, run: run)
    let settings = try inputs.settings(input, stored: stored?.stage.data)
    return (
      RunConfiguration(stage: SFTSettings(data: settings), training: training),
      {
        let (loader, evaluation, trainingSamples, heldOut) = input.batches(
          training, communicator: run.communicator)
        let base = input.base
        let model = try FineTuneModel(
          base: base.llama, lora: settings.lora, seed: training.seed, baseModelPath: base.path)
        return TrainingSession(
          model: ModelWithFiles(model, files: base.chatFiles),
          objective: SupervisedFineTuningObjective(model: model.llama), loader: loader,
          evaluationBatches: evaluation,
          summary: "\(model.parameterSummary) from \(base.path), "
            + "\(trainingSamples) training samples (\(heldOut) held out), "
            + "\(input.index.supervisedTokens) of \(input.index.tokens) tokens supervised")
      }
    )
  }
}

/// Reward-model training as `minillm reward` runs it: an SFT model's decoder plus a scalar
/// head fresh from the seed, trained on preference pairs with −log σ(r_chosen − r_rejected).
public struct RewardStage: TrainingStage {
  /// What the data is counted in.
  public static let unit = "pairs"
  /// AdamW 0.9/0.95 without weight decay, as TRL's trainers, lr 1e-5 with warmup and cosine
  /// decay, clip 1, one epoch of 8 pairs per step as 2 micro-batches of 4, 5% held out so the
  /// accuracy is measured on pairs the model never saw.
  public static let defaults = TrainingDefaults(
    learningRate: 1e-5, epochs: 1, batchSize: 8, microBatchSize: 4, weightDecay: 0,
    evalFraction: 0.05)

  /// The SFT model, the preference shards and the settings given.
  public var inputs: FineTuneInputs

  /// A stage of `inputs`.
  public init(_ inputs: FineTuneInputs) { self.inputs = inputs }

  public func prepare(stored: RunConfiguration<RewardSettings>?, in run: TrainingRun) throws -> (
    configuration: RunConfiguration<RewardSettings>,
    session: () throws -> TrainingSession<
      ModelWithFiles<FineTuneRewardModel>, RewardObjective, PreferenceLoader
    >
  ) {
    let (input, training) = try inputs.load(
      PreferenceTrainingData.self, defaults: Self.defaults,
      stored: stored.map { ($0.stage.data, $0.training) }, run: run)
    let settings = try inputs.settings(input, stored: stored?.stage.data)
    return (
      RunConfiguration(stage: RewardSettings(data: settings), training: training),
      {
        let model = try FineTuneRewardModel(
          languageModel: input.base.llama, lora: settings.lora, seed: training.seed,
          baseModelPath: input.base.path)
        let (loader, evaluation, trainingPairs, heldOut) = input.batches(
          training, communicator: run.communicator)
        return TrainingSession(
          model: ModelWithFiles(model, files: input.base.chatFiles),
          objective: RewardObjective(model: model.reward), loader: loader,
          evaluationBatches: evaluation,
          summary: "\(model.parameterSummary) from \(input.base.path), \(trainingPairs) "
            + "training pairs (\(heldOut) held out)", unit: "pairs")
      }
    )
  }
}

/// Direct preference optimisation as `minillm dpo` runs it: the policy starts from an SFT
/// model, which also serves as the frozen reference (its log-likelihoods computed once and
/// kept in `RUN/reference_logps.safetensors` by default).
public struct DPOStage: TrainingStage {
  /// What the data is counted in.
  public static let unit = "pairs"
  /// AdamW 0.9/0.95 without weight decay, as TRL's trainers, lr 5e-6 with warmup and cosine
  /// decay, clip 1, one epoch of 8 pairs per step as 4 micro-batches of 2, 5% held out.
  public static let defaults = TrainingDefaults(
    learningRate: 5e-6, epochs: 1, batchSize: 8, microBatchSize: 2, weightDecay: 0,
    evalFraction: 0.05)

  /// The SFT model, the preference shards and the settings given.
  public var inputs: FineTuneInputs
  /// The loss settings given, over the stored run's and the defaults (sigmoid, β 0.1).
  public var loss: DPOSettings.Options

  /// A stage of `inputs` and `loss`.
  public init(_ inputs: FineTuneInputs, loss: DPOSettings.Options = DPOSettings.Options()) {
    self.inputs = inputs
    self.loss = loss
  }

  public func prepare(stored: RunConfiguration<DPOSettings>?, in run: TrainingRun) throws -> (
    configuration: RunConfiguration<DPOSettings>,
    session: () throws -> TrainingSession<
      ModelWithFiles<FineTuneModel>, DPOObjective, PreferenceLoader
    >
  ) {
    let (input, training) = try inputs.load(
      PreferenceTrainingData.self, defaults: Self.defaults,
      stored: stored.map { ($0.stage.data, $0.training) }, run: run)
    let settings = try inputs.settings(input, stored: stored?.stage.data)
    let (criterion, precompute) = try loss.resolve(over: stored?.stage)
    let configuration = RunConfiguration(
      stage: DPOSettings(data: settings, loss: criterion, precomputeReference: precompute),
      training: training)
    return (
      configuration,
      {
        // With adapters the reference is the base with them disabled: no second copy.
        let model = try FineTuneModel(
          base: input.base.llama, lora: settings.lora, seed: training.seed,
          baseModelPath: input.base.path)
        let reference: DPOObjective.Reference =
          precompute
          ? .cached(
            try run.referenceLogProbabilities(
              input, batchSize: max(1, training.microBatchSize * 2)))
          : .model(settings.lora == nil ? try loadLlama(input.base.path) : model.base)
        let policy = model.llama
        let (loader, evaluation, trainingPairs, heldOut) = input.batches(
          training, communicator: run.communicator)
        return TrainingSession(
          model: ModelWithFiles(model, files: input.base.chatFiles),
          objective: DPOObjective(policy: policy, reference: reference, criterion: criterion),
          loader: loader, evaluationBatches: evaluation,
          summary: "\(model.parameterSummary) from \(input.base.path) (policy and "
            + "frozen reference), \(criterion.kind.rawValue) loss with β \(criterion.beta), "
            + "\(trainingPairs) training pairs (\(heldOut) held out)", unit: "pairs")
      }
    )
  }
}
