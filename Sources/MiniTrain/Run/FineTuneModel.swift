import MiniAutograd
import MiniLlama

/// The model a fine-tuning stage trains: the whole Llama, or low-rank adapters on its frozen
/// base (`--lora-rank`). The objective runs ``llama`` either way; the trainer sees only the
/// weights that train (the adapters' arena with LoRA) and the run's final save goes to
/// `RUN/model/` or, with adapters, `RUN/adapter/` (PEFT's files).
public final class FineTuneModel: TrainableModel {
  /// The model the objective runs (the base with its adapters, under LoRA).
  public let llama: Llama
  /// The adapters, when training with LoRA.
  public let lora: LoRAModel?

  /// The whole of `base` trained, or adapters on it when `lora` is given.
  /// - Parameters:
  ///   - seed: seeds the adapters' initialisation and dropout.
  ///   - baseModelPath: written as the adapters' `base_model_name_or_path`.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming the `--lora-…` setting at fault.
  public init(
    base: Llama, lora configuration: LoRAConfiguration?, seed: UInt64 = 0,
    baseModelPath: String? = nil
  ) throws {
    if let configuration {
      do {
        try configuration.validate()
      } catch {
        throw TrainingRunError.setting(error.flagName, error.message)
      }
      let lora = LoRAModel(base: base, configuration: configuration, seed: seed)
      lora.baseModelPath = baseModelPath
      self.lora = lora
      llama = lora.model
    } else {
      lora = nil
      llama = base
    }
  }

  /// The base with adapters disabled (the whole model when there are none): DPO's reference
  /// under LoRA, with no second copy of the weights.
  public var base: Llama { lora?.base ?? llama }

  public var arena: ParameterArena { lora?.arena ?? llama.arena }

  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    for parameter in arena.parameters { try visitor(parameter) }
  }

  public func save(to directory: String) throws {
    if let lora { try lora.save(to: directory) } else { try llama.save(to: directory) }
  }

  public func loadWeights(fromDirectory directory: String) throws {
    if let lora {
      try lora.loadWeights(fromDirectory: directory)
    } else {
      try llama.loadWeights(fromDirectory: directory)
    }
  }

  public var outputFolderName: String { lora?.outputFolderName ?? llama.outputFolderName }

  public var adapterBaseConfig: LlamaConfig? { lora?.base.config }

  /// One line for the run's summary: the trained parameters and, with adapters, the base's.
  public var parameterSummary: String {
    guard let lora else { return "\(llama.parameterCount) parameters" }
    let configuration = lora.configuration
    return "\(lora.parameterCount) LoRA parameters (r \(configuration.rank), alpha "
      + "\(configuration.alpha), \(lora.adapters.count) projections) on \(lora.frozenSummary)"
  }
}

extension LoRAModel {
  /// The frozen weights for a run's summary: `N frozen`, with how many of them a GGUF base
  /// keeps in its blocks (outside the arena).
  var frozenSummary: String {
    let blocks = base.linearWeights.reduce(0) { total, weight in
      guard case .ggml = weight else { return total }
      return total + weight.shape.reduce(1, *)
    }
    return "\(base.parameterCount + blocks) frozen"
      + (blocks > 0 ? " (\(blocks) of them in GGUF blocks)" : "")
  }
}

extension LoRAConfigurationError {
  /// The command-line flag of the setting at fault.
  var flagName: String {
    switch key {
    case "r": "--lora-rank"
    case "lora_alpha": "--lora-alpha"
    case "lora_dropout": "--lora-dropout"
    case "target_modules": "--lora-targets"
    default: key
    }
  }
}
