import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor

/// A PPO policy: a causal language model and a value head on its trunk (as TRL's
/// `AutoModelForCausalLMWithValueHead`), `value_head.weight` (`[1, hidden]`, no bias, starting
/// at zero) in the same arena, so one optimizer trains both.
///
/// With LoRA the adapters train on the frozen base and the head sits in the adapters' arena;
/// the base with adapters disabled is then the reference, with no second copy of the weights.
///
/// ``save(to:)`` writes the language model as a plain model directory (chat-ready, loadable
/// by `transformers`), or the PEFT adapter folder under LoRA, and the head beside it as
/// `value_head.safetensors`.
public final class PPOPolicy: TrainableModel {
  /// The name of the head's weight.
  public static let valueHeadName = "value_head.weight"
  /// The file of the head in a saved directory.
  public static let valueHeadFile = "value_head.safetensors"

  /// The language model; its arena also holds the value head.
  public let model: Llama
  /// The value head, `[1, hidden]`.
  public let valueHead: Parameter
  /// The adapters, when training with LoRA.
  public let lora: LoRAModel?

  /// The policy starting from `languageModel`'s weights, with a zero value head; with `lora`,
  /// adapters on `languageModel` (which stays frozen).
  /// - Parameters:
  ///   - seed: seeds the adapters' initialisation and dropout.
  ///   - baseModelPath: written as the adapters' `base_model_name_or_path`.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming the `--lora-…` setting at fault.
  public init(
    languageModel: Llama, lora configuration: LoRAConfiguration? = nil, seed: UInt64 = 0,
    baseModelPath: String? = nil
  ) throws {
    let config = languageModel.config
    let head = Llama.AdditionalParameter(
      name: Self.valueHeadName, shape: [1, config.hiddenSize], initializer: .zeros)
    if let configuration {
      do {
        try configuration.validate()
      } catch {
        throw TrainingRunError.setting(error.flagName, error.message)
      }
      let lora = LoRAModel(
        base: languageModel, configuration: configuration, seed: seed,
        additionalParameters: [head])
      lora.baseModelPath = baseModelPath
      self.lora = lora
      model = lora.model
      valueHead = lora.arena.parameter(named: Self.valueHeadName)!
      return
    }
    lora = nil
    model = Llama(
      config: config, seed: 0,
      additionalParameters: [
        Llama.AdditionalParameter(
          name: Self.valueHeadName, shape: [1, config.hiddenSize], initializer: .zeros)
      ])
    valueHead = model.arena.parameter(named: Self.valueHeadName)!
    var weights = languageModel.weights
    weights[Self.valueHeadName] = valueHead.value
    try model.arena.load(weights)
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
    guard let lora else { return "\(model.parameterCount) parameters and a value head" }
    return "\(lora.parameterCount) LoRA and value-head parameters (r \(lora.configuration.rank), "
      + "\(lora.adapters.count) projections) on \(lora.base.parameterCount) frozen"
  }

  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    for parameter in arena.parameters { try visitor(parameter) }
  }

  /// Logits `[rows·width, vocab]` divided by `temperature` and values `[rows·width]` (the head
  /// on each position's final hidden state) of right-padded rows.
  public func callAsFunction(
    _ tokens: [Int32], rows: Int, temperature: Float, tape: Tape? = nil
  ) -> (logits: Variable, values: Variable) {
    let width = tokens.count / rows
    let hidden = model.hiddenStates(tokens, batch: rows, tape: tape)
      .reshaped([rows * width, config.hiddenSize])
    let logits = model.logits(hidden, tape: tape)
    let scaled = temperature == 1 ? logits : logits * (1 / temperature)
    let values = linear(hidden, valueHead.variable(on: tape)).reshaped([rows * width])
    return (scaled, values)
  }

  /// Writes the language model's directory and `value_head.safetensors` into `directory`.
  public func save(to directory: String) throws {
    if let lora { try lora.save(to: directory) } else { try model.save(to: directory) }
    try SafeTensors.write(
      [SafeTensorsEntry(Self.valueHeadName, valueHead.value)], metadata: ["format": "pt"],
      to: directory + "/" + Self.valueHeadFile)
  }

  /// Reads the weights of a directory written by ``save(to:)``.
  public func loadWeights(fromDirectory directory: String) throws {
    var tensors: [String: Tensor] = [:]
    if let lora { try lora.loadWeights(fromDirectory: directory) }
    for file in lora == nil ? ["model.safetensors", Self.valueHeadFile] : [Self.valueHeadFile] {
      let path = directory + "/" + file
      for (name, tensor) in try SafeTensorsFile(path: path).loadAll() { tensors[name] = tensor }
    }
    do {
      try arena.load(tensors, allowMissing: lora != nil)
    } catch {
      throw CheckpointError(path: directory, "\(error)")
    }
  }
}
