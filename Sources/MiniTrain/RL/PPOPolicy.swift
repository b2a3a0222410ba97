import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor

/// Where a PPO run's values come from.
public enum PPOCritic: String, Codable, Sendable, CaseIterable {
  /// A value model of its own, as TRL's `PPOTrainer` builds it: a copy of the reward model
  /// (trunk and `score` head, `AutoModelForSequenceClassification.from_pretrained(reward)`),
  /// trained by the value loss beside the policy.
  case separate
  /// A value head on the policy's trunk (TRL's older `AutoModelForCausalLMWithValueHead`).
  case shared
}

/// A PPO policy: a causal language model and its critic, either a value head on the model's
/// trunk (as TRL's `AutoModelForCausalLMWithValueHead`: `value_head.weight`, `[1, hidden]`, no
/// bias, starting at zero) or a separate critic (as TRL's `PPOTrainer`: a reward-model-shaped
/// trunk and `score` head, ``RewardModel``).
///
/// One optimizer trains everything: the value head, or a copy of every critic weight under
/// `critic.` names, sits in the trained arena. The critic's own ``RewardModel`` reads those
/// values before each forward and hands its gradients back to the arena as the policy's
/// backward passes it, so the trainer sees one arena.
///
/// With LoRA the adapters train on the frozen base and the head (or the whole critic, as TRL
/// trains its value model in full beside a PEFT policy) sits in the adapters' arena; the base
/// with adapters disabled is then the reference, with no second copy of the weights.
///
/// ``save(to:)`` writes the language model as a plain model directory (chat-ready, loadable
/// by `transformers`), or the PEFT adapter folder under LoRA, and beside it the head as
/// `value_head.safetensors` or the critic as `critic.safetensors` and `critic_config.json` (the
/// `model.safetensors` and `config.json` of a `LlamaForSequenceClassification` directory, as
/// `minillm reward` writes them).
public final class PPOPolicy: TrainableModel {
  /// The name of the head's weight.
  public static let valueHeadName = "value_head.weight"
  /// The file of the head in a saved directory.
  public static let valueHeadFile = "value_head.safetensors"
  /// The weights of a separate critic in a saved directory (a one-label
  /// `LlamaForSequenceClassification`'s `model.safetensors`).
  public static let criticWeightsFile = "critic.safetensors"
  /// Its `config.json`.
  public static let criticConfigFile = "critic_config.json"
  /// The prefix of the critic's weights in the trained arena.
  public static let criticPrefix = "critic."

  /// The language model (its arena holds the value head or the critic's weights, without
  /// LoRA).
  public let model: Llama
  /// The value head, `[1, hidden]`, with a shared critic; else `nil`.
  public let valueHead: Parameter?
  /// The separate critic, else `nil`.
  public let critic: RewardModel?
  /// The adapters, when training with LoRA.
  public let lora: LoRAModel?
  /// The critic's weights in ``arena``: elements `criticRange` (in the critic's own order).
  let criticRange: Range<Int>

  /// The policy starting from `languageModel`'s weights, with a zero value head or, given
  /// `critic`, a separate critic starting from its weights; with `lora`, adapters on
  /// `languageModel` (which stays frozen).
  /// - Parameters:
  ///   - critic: the separate critic's starting point (it is copied).
  ///   - seed: seeds the adapters' initialisation and dropout.
  ///   - baseModelPath: written as the adapters' `base_model_name_or_path`.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming the `--lora-…` setting at fault.
  public init(
    languageModel: Llama, critic start: RewardModel? = nil,
    lora configuration: LoRAConfiguration? = nil, seed: UInt64 = 0, baseModelPath: String? = nil
  ) throws {
    let config = languageModel.config
    let extras: [Llama.AdditionalParameter]
    var extraValues: [String: Tensor] = [:]
    if let start {
      let copy = RewardModel(config: start.config)
      try copy.arena.load(start.trunk.weights)
      critic = copy
      extras = copy.arena.parameters.map {
        Llama.AdditionalParameter(
          name: Self.criticPrefix + $0.name, shape: $0.shape, initializer: .zeros)
      }
      for parameter in copy.arena.parameters {
        extraValues[Self.criticPrefix + parameter.name] = parameter.value
      }
    } else {
      critic = nil
      extras = [
        Llama.AdditionalParameter(
          name: Self.valueHeadName, shape: [1, config.hiddenSize], initializer: .zeros)
      ]
    }
    if let configuration {
      do {
        try configuration.validate()
      } catch {
        throw TrainingRunError.setting(error.flagName, error.message)
      }
      let lora = LoRAModel(
        base: languageModel, configuration: configuration, seed: seed,
        additionalParameters: extras)
      lora.baseModelPath = baseModelPath
      self.lora = lora
      model = lora.model
      try lora.arena.load(extraValues, allowMissing: true)
    } else {
      lora = nil
      model = Llama(config: config, seed: 0, additionalParameters: extras)
      var weights = languageModel.weights
      for parameter in extras where extraValues[parameter.name] == nil {
        weights[parameter.name] = Tensor.zeros(parameter.shape)
      }
      weights.merge(extraValues) { $1 }
      try model.arena.load(weights)
    }
    let arena = lora?.arena ?? model.arena
    valueHead = critic == nil ? arena.parameter(named: Self.valueHeadName) : nil
    if let critic {
      let first = arena.parameter(named: Self.criticPrefix + critic.arena.parameters[0].name)!
      criticRange = first.offset..<(first.offset + critic.arena.count)
      for parameter in critic.arena.parameters {
        precondition(
          arena.parameter(named: Self.criticPrefix + parameter.name)?.offset
            == first.offset + parameter.offset,
          "PPOPolicy: the critic's weights are not laid out in its own order")
      }
    } else {
      criticRange = 0..<0
    }
  }

  /// The architecture.
  public var config: LlamaConfig { model.config }

  public var arena: ParameterArena { lora?.arena ?? model.arena }

  /// The frozen base under LoRA (the reference), else `nil`.
  public var base: Llama? { lora?.base }

  public var outputFolderName: String { lora?.outputFolderName ?? "model" }

  public var adapterBaseConfig: LlamaConfig? { lora?.base.config }

  /// One line for the run's summary: the trained parameters and, with adapters, the base's.
  public var parameterSummary: String {
    let critic =
      critic.map { "a separate critic of \($0.arena.count) parameters" } ?? "a value head"
    guard let lora else { return "\(model.parameterCount) parameters and \(critic)" }
    return "\(lora.parameterCount) LoRA and critic parameters (r \(lora.configuration.rank), "
      + "\(lora.adapters.count) projections; \(critic)) on \(lora.base.parameterCount) frozen"
  }

  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    for parameter in arena.parameters { try visitor(parameter) }
  }

  /// Logits `[rows·width, vocab]` divided by `temperature` and values `[rows·width]` (the
  /// critic on each position's final hidden state) of right-padded rows.
  public func callAsFunction(
    _ tokens: [Int32], rows: Int, temperature: Float, tape: Tape? = nil
  ) -> (logits: Variable, values: Variable) {
    let width = tokens.count / rows
    let hidden = model.hiddenStates(tokens, batch: rows, tape: tape)
      .reshaped([rows * width, config.hiddenSize])
    let logits = model.logits(hidden, tape: tape)
    let scaled = temperature == 1 ? logits : logits * (1 / temperature)
    guard let critic else {
      let values = linear(hidden, valueHead!.variable(on: tape)).reshaped([rows * width])
      return (scaled, values)
    }
    return (scaled, criticValues(critic, tokens, rows: rows, tape: tape))
  }

  /// The separate critic's values `[rows·width]`: its weights read from the arena; with a tape,
  /// a bridge whose backward runs the critic's own backward and adds its gradients to the
  /// arena's.
  func criticValues(_ critic: RewardModel, _ tokens: [Int32], rows: Int, tape: Tape?)
    -> Variable
  {
    synchronizeCritic()
    let count = tokens.count
    guard let tape else {
      let hidden = critic.trunk.hiddenStates(tokens, batch: rows)
        .reshaped([count, critic.config.hiddenSize])
      return linear(hidden, critic.score.variable(on: nil)).reshaped([count])
    }
    let own = Tape()
    let hidden = critic.trunk.hiddenStates(tokens, batch: rows, tape: own)
      .reshaped([count, critic.config.hiddenSize])
    let values = linear(hidden, critic.score.variable(on: own)).reshaped([count])
    let anchor = arena.parameter(named: Self.criticPrefix + RewardModel.headName)!
    let range = criticRange
    let trained = arena
    return Variable.operation(inputs: [anchor.variable(on: tape)], value: values.value) { dy in
      critic.arena.zeroGradients()
      own.backward(from: values, seed: dy)
      critic.arena.withUnsafeMutableBuffers { source in
        trained.withUnsafeMutableBuffers { target in
          for i in 0..<source.gradients.count {
            target.gradients[range.lowerBound + i] += source.gradients[i]
          }
        }
      }
      return [nil]
    }
  }

  /// Copies the critic's weights from the arena into the critic.
  func synchronizeCritic() {
    guard let critic else { return }
    let range = criticRange
    arena.withUnsafeMutableBuffers { source in
      critic.arena.withUnsafeMutableBuffers { target in
        for i in 0..<target.values.count { target.values[i] = source.values[range.lowerBound + i] }
      }
    }
  }

  /// Writes the language model's directory and `value_head.safetensors` or the critic's files into
  /// `directory`.
  public func save(to directory: String) throws {
    if let lora {
      try lora.save(to: directory)
    } else {
      let weights = model.weights.filter {
        !$0.key.hasPrefix(Self.criticPrefix) && $0.key != Self.valueHeadName
      }
      try ModelDirectory(path: directory).save(config: config, weights: weights)
    }
    if let critic {
      synchronizeCritic()
      // A checkpoint holds plain files: the reward model directory's two, renamed.
      let folder = directory + "/critic.tmp"
      try critic.save(to: folder)
      let files = FileManager.default
      do {
        for (from, to) in [
          ("model.safetensors", Self.criticWeightsFile), ("config.json", Self.criticConfigFile),
        ] {
          let target = directory + "/" + to
          if files.fileExists(atPath: target) { try files.removeItem(atPath: target) }
          try files.moveItem(atPath: folder + "/" + from, toPath: target)
        }
        try files.removeItem(atPath: folder)
      } catch {
        throw CheckpointError(path: directory, "cannot write the critic: \(error)")
      }
    } else if let valueHead {
      try SafeTensors.write(
        [SafeTensorsEntry(Self.valueHeadName, valueHead.value)], metadata: ["format": "pt"],
        to: directory + "/" + Self.valueHeadFile)
    }
  }

  /// Reads the weights of a directory written by ``save(to:)``.
  public func loadWeights(fromDirectory directory: String) throws {
    var tensors: [String: Tensor] = [:]
    if let lora { try lora.loadWeights(fromDirectory: directory) }
    var files = lora == nil ? ["model.safetensors"] : []
    files.append(
      critic == nil ? Self.valueHeadFile : Self.criticWeightsFile)
    for file in files {
      let path = directory + "/" + file
      let prefix = file == Self.criticWeightsFile ? Self.criticPrefix : ""
      for (name, tensor) in try SafeTensorsFile(path: path).loadAll() {
        // Directories of earlier versions also hold the value head in model.safetensors.
        if prefix.isEmpty && name == Self.valueHeadName && critic != nil { continue }
        tensors[prefix + name] = tensor
      }
    }
    do {
      try arena.load(tensors, allowMissing: lora != nil)
    } catch {
      throw CheckpointError(path: directory, "\(error)")
    }
    synchronizeCritic()
  }
}
