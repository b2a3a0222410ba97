import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor

/// The model a reward stage trains: the whole ``RewardModel``, or LoRA adapters on its frozen
/// trunk with the scalar head trained beside them (PEFT's `task_type: SEQ_CLS` with
/// `modules_to_save: ["score"]`). The adapter folder then holds the head as
/// `base_model.model.score.weight`, as PEFT saves it.
public final class FineTuneRewardModel: TrainableModel {
  /// PEFT's name of the head in an adapter folder.
  public static let adapterHeadName = "base_model.model.score.weight"

  /// The reward model the objective runs (its trunk adapted under LoRA).
  public let reward: RewardModel
  /// The adapters (and the head), when training with LoRA.
  public let lora: LoRAModel?

  /// The reward model a stage starts from a causal language model: the whole model copied
  /// into a ``RewardModel`` with a fresh head, or, with `lora`, adapters on `languageModel`
  /// itself (no copy: a GGUF base keeps its blocks, as QLoRA trains over them) with the head
  /// beside them. Both draw the same adapters and head from `seed` as ``init(_:lora:seed:baseModelPath:)``.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming the `--lora-…` setting at fault.
  public convenience init(
    languageModel: Llama, lora configuration: LoRAConfiguration?, seed: UInt64 = 0,
    baseModelPath: String? = nil
  ) throws {
    guard let configuration else {
      let model = try setting("--model") {
        try RewardModel(languageModel: languageModel, seed: seed)
      }
      self.init(reward: model, lora: nil)
      return
    }
    // The trunk's language-model head stays unused; the LoRA arena declares the score head.
    let (reward, lora) = try Self.adapted(
      languageModel, configuration, seed: seed, baseModelPath: baseModelPath)
    self.init(reward: reward, lora: lora)
  }

  /// `model` trained whole, or adapters of `configuration` on its trunk with a fresh head.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming the `--lora-…` setting at fault.
  public convenience init(
    _ model: RewardModel, lora configuration: LoRAConfiguration?, seed: UInt64 = 0,
    baseModelPath: String? = nil
  ) throws {
    guard let configuration else {
      self.init(reward: model, lora: nil)
      return
    }
    let (reward, lora) = try Self.adapted(
      model.trunk, configuration, seed: seed, baseModelPath: baseModelPath)
    self.init(reward: reward, lora: lora)
  }

  private init(reward: RewardModel, lora: LoRAModel?) {
    self.reward = reward
    self.lora = lora
  }

  /// Adapters of `configuration` on `trunk`, with a fresh head declared after them, and the
  /// reward model they make.
  private static func adapted(
    _ trunk: Llama, _ configuration: LoRAConfiguration, seed: UInt64, baseModelPath: String?
  ) throws -> (RewardModel, LoRAModel) {
    do {
      try configuration.validate()
    } catch {
      throw TrainingRunError.setting(error.flagName, error.message)
    }
    let lora = LoRAModel(
      base: trunk, configuration: configuration, seed: seed,
      additionalParameters: [
        Llama.AdditionalParameter(
          name: Self.adapterHeadName, shape: [1, trunk.config.hiddenSize],
          initializer: .normal(standardDeviation: trunk.config.initializerRange))
      ])
    lora.baseModelPath = baseModelPath
    guard let head = lora.arena.parameter(named: Self.adapterHeadName) else {
      preconditionFailure("FineTuneRewardModel: the head was not declared")
    }
    return (RewardModel(trunk: lora.model, score: head), lora)
  }

  public var arena: ParameterArena { lora?.arena ?? reward.arena }

  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    for parameter in arena.parameters { try visitor(parameter) }
  }

  public func save(to directory: String) throws {
    guard let lora else { return try reward.save(to: directory) }
    try lora.saveAdapter(
      to: directory, extraEntries: [SafeTensorsEntry(Self.adapterHeadName, reward.score.value)],
      taskType: "SEQ_CLS", modulesToSave: ["score"])
  }

  public func loadWeights(fromDirectory directory: String) throws {
    guard let lora else { return try reward.loadWeights(fromDirectory: directory) }
    try lora.loadAdapterWeights(fromDirectory: directory, allowUnexpected: [Self.adapterHeadName])
    let path = directory + "/" + PEFTAdapterFiles.weights
    let file = try SafeTensorsFile(path: path)
    guard let info = file.info(named: Self.adapterHeadName), info.shape == reward.score.shape
    else {
      throw CheckpointError(
        path: path, "tensor '\(Self.adapterHeadName)' is missing or not \(reward.score.shape)")
    }
    reward.score.assign(try file.tensor(named: Self.adapterHeadName))
  }

  public var outputFolderName: String { lora == nil ? "model" : "adapter" }

  public var adapterBaseConfig: LlamaConfig? { lora?.base.config }

  /// One line for the run's summary.
  public var parameterSummary: String {
    guard let lora else {
      return "\(reward.parameterCount) parameters (decoder and a scalar head)"
    }
    return "\(lora.parameterCount) LoRA and head parameters (r \(lora.configuration.rank), "
      + "\(lora.adapters.count) projections) on \(lora.frozenSummary)"
  }
}
