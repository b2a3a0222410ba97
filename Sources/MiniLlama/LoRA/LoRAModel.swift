import MiniAutograd
import MiniTensor

/// A Llama with low-rank adapters on the projections named by a ``LoRAConfiguration``, as PEFT's
/// `get_peft_model` makes one: the base stays as it is and frozen, the adapters live in their
/// own ``ParameterArena`` (the only weights an optimizer sees).
///
/// ```swift
/// let base = try Llama(directory: "sft/model")
/// let lora = LoRAModel(base: base, configuration: LoRAConfiguration(rank: 8), seed: 1)
/// let logits = lora.model(ids)                       // base + adapters
/// let reference = lora.base(ids)                     // adapters disabled: the same weights
/// try lora.saveAdapter(to: "run/adapter")            // PEFT's files
/// ```
///
/// Creating one freezes every weight of `base` (`requiresGradient = false`), so a tape through
/// ``model`` never allocates the base's gradient buffer: only the adapters' arena has gradients
/// and optimizer moments.
public final class LoRAModel: Module {
  /// The frozen base: the model with its adapters disabled (shares no state with them).
  public let base: Llama
  /// The base with its adapters: the model to train and run.
  public let model: Llama
  /// The adapters' settings.
  public let configuration: LoRAConfiguration
  /// The adapters (`lora_A`, `lora_B` of each target in Hugging Face order, under PEFT's names),
  /// then any additional parameters.
  public let arena: ParameterArena
  /// The adapted projections, in Hugging Face order.
  public let adapters: [LoRALinear]
  /// Written as `base_model_name_or_path` in `adapter_config.json`.
  public var baseModelPath: String?
  let generator: LoRADropoutGenerator

  /// PEFT's name of a base weight's adapter matrix: `base_model.model.` + the module path +
  /// `.lora_A.weight` (or `lora_B`).
  public static func adapterName(ofWeight name: String, matrix: String) -> String {
    precondition(name.hasSuffix(".weight"), "LoRAModel: \(name) is not a weight name")
    return "base_model.model." + name.dropLast(".weight".count) + ".\(matrix).weight"
  }

  /// Adapters on `base` initialised as PEFT does: `A` Kaiming-uniform with `a = √5`
  /// (uniform in `±1/√in`), `B` zero, so the adapted model starts equal to the base.
  /// - Parameters:
  ///   - seed: seeds the initialisation and the dropout masks.
  ///   - additionalParameters: weights declared after the adapters in the same arena (a task
  ///     head trained beside them), initialised after them.
  /// - Precondition: `configuration` is valid and `base` has no adapters yet.
  public init(
    base: Llama, configuration: LoRAConfiguration, seed: UInt64 = 0,
    additionalParameters: [Llama.AdditionalParameter] = []
  ) {
    precondition(
      (try? configuration.validate()) != nil, "LoRAModel: invalid configuration \(configuration)")
    var builder = ParameterArena.Builder()
    var declared: [String: (Parameter, Parameter)] = [:]
    for weight in base.linearWeights {
      if case .lora = weight { preconditionFailure("LoRAModel: \(weight.name) is already adapted") }
      guard configuration.target(ofWeight: weight.name) != nil else { continue }
      let (out, inFeatures) = (weight.shape[0], weight.shape[1])
      let bound = 1 / Float(inFeatures).squareRoot()
      let a = builder.declare(
        Self.adapterName(ofWeight: weight.name, matrix: "lora_A"),
        shape: [configuration.rank, inFeatures], initializer: .uniform(-bound..<bound))
      let b = builder.declare(
        Self.adapterName(ofWeight: weight.name, matrix: "lora_B"),
        shape: [out, configuration.rank], initializer: .zeros)
      declared[weight.name] = (a, b)
    }
    for extra in additionalParameters {
      _ = builder.declare(extra.name, shape: extra.shape, initializer: extra.initializer)
    }
    var rng = PhiloxRNG(seed: seed)
    arena = builder.build(using: &rng)
    let generator = LoRADropoutGenerator(seed: seed)
    var adapters: [LoRALinear] = []
    // A GGUF base's blocks meet `Float` activations, in the forward and the backward alike.
    let base = base.computingInFloat()
    model = base.mappingLinearWeights { weight in
      guard let (a, b) = declared[weight.name] else { return weight }
      let adapter = LoRALinear(
        base: weight, a: a, b: b, scale: configuration.scale,
        dropout: Float(configuration.dropout), generator: generator)
      adapters.append(adapter)
      return .lora(adapter)
    }
    for parameter in base.arena.parameters { parameter.requiresGradient = false }
    self.base = base
    self.configuration = configuration
    self.adapters = adapters
    self.generator = generator
  }

  /// Visits the adapters' weights (and any additional parameters) in arena order.
  public func visitParameters(_ visitor: (Parameter) throws -> Void) rethrows {
    for parameter in arena.parameters { try visitor(parameter) }
  }

  /// The state of the dropout generator (a checkpoint keeps it for an exact resume).
  public var dropoutState: PhiloxRNG.State {
    get { generator.rng.state }
    set { generator.rng = PhiloxRNG(state: newValue) }
  }

  /// A plain Llama whose projections are `W + scale · B · A` (PEFT's `merge_and_unload`), with
  /// its own weights: the base's embeddings and norms copied, merged projections `Float`.
  public func merged() -> Llama {
    var weights = base.weights.mapValues { $0.contiguous() }
    for adapter in adapters { weights[adapter.base.name] = adapter.mergedWeight() }
    let result = Llama(config: base.config, seed: 0)
    do {
      try result.arena.load(weights, allowMissing: false, allowUnexpected: true)
    } catch {
      preconditionFailure("LoRAModel.merged: \(error)")
    }
    return result
  }
}
