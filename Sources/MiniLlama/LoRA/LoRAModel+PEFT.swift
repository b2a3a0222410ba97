import Foundation
import MiniAutograd
import MiniSupport
import MiniTensor

/// What a PEFT adapter folder holds.
public enum PEFTAdapterFiles {
  /// The settings.
  public static let configuration = "adapter_config.json"
  /// The adapters' weights.
  public static let weights = "adapter_model.safetensors"
  /// The `adapter_model.safetensors` metadata key holding the dropout generator's state.
  static let dropoutStateKey = "minillm_lora_dropout_rng"
}

extension LoRAConfiguration {
  /// PEFT's `adapter_config.json` for these settings (`peft_type: LORA`, no bias, no DoRA).
  /// - Parameters:
  ///   - baseModel: `base_model_name_or_path`.
  ///   - taskType: PEFT's `task_type` (`CAUSAL_LM`, or `SEQ_CLS` for a reward model).
  ///   - modulesToSave: modules trained in full beside the adapters (`score`).
  public func peftJSON(
    baseModel: String?, taskType: String = "CAUSAL_LM", modulesToSave: [String]? = nil
  ) throws -> Data {
    let object: [String: Any] = [
      "alpha_pattern": [String: Any](), "auto_mapping": NSNull(),
      "base_model_name_or_path": baseModel ?? NSNull(), "bias": "none",
      "fan_in_fan_out": false, "inference_mode": true, "init_lora_weights": true,
      "layers_pattern": NSNull(), "layers_to_transform": NSNull(), "lora_alpha": alpha,
      "lora_dropout": dropout, "modules_to_save": modulesToSave ?? NSNull(),
      "peft_type": "LORA", "r": rank, "rank_pattern": [String: Any](), "revision": NSNull(),
      "target_modules": targets, "task_type": taskType, "use_dora": false,
      "use_rslora": useRSLoRA,
    ]
    return try JSONSerialization.data(
      withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
  }

  /// Reads PEFT's `adapter_config.json`.
  /// - Throws: ``LoRAConfigurationError`` naming the file and key: a missing or mistyped key,
  ///   or a feature this model does not implement (biases, DoRA, per-layer ranks, patterns).
  public init(peftConfigurationAt path: String) throws(LoRAConfigurationError) {
    func fail(_ key: String, _ message: String) -> LoRAConfigurationError {
      LoRAConfigurationError(path: path, key: key, message: message)
    }
    guard let data = FileManager.default.contents(atPath: path) else {
      throw fail("(file)", "cannot be read; is the folder a PEFT adapter?")
    }
    let parsed: JSONValue
    do {
      parsed = try data.withUnsafeBytes { bytes throws(JSONFailure) in try JSONParser.parse(bytes) }
    } catch {
      throw fail("(root)", "is not valid JSON: \(error)")
    }
    guard let object = parsed.object else { throw fail("(root)", "is not a JSON object") }
    func present(_ key: String) -> JSONValue? {
      guard let value = object[key], value != .null else { return nil }
      return value
    }
    func number(_ key: String) throws(LoRAConfigurationError) -> Double? {
      guard let value = present(key) else { return nil }
      guard let number = value.number else { throw fail(key, "must be a number") }
      return number.value
    }
    func flag(_ key: String) throws(LoRAConfigurationError) -> Bool {
      guard let value = present(key) else { return false }
      guard case .bool(let flag) = value else { throw fail(key, "must be true or false") }
      return flag
    }
    func text(_ key: String) throws(LoRAConfigurationError) -> String? {
      guard let value = present(key) else { return nil }
      guard let text = value.string else { throw fail(key, "must be a string") }
      return text
    }
    if let type = try text("peft_type"), type != "LORA" {
      throw fail("peft_type", "is \(type); only LORA adapters are read")
    }
    guard let rank = try number("r"), rank.rounded() == rank, rank >= 1, rank < Double(1 << 20)
    else {
      throw fail("r", "must be a positive integer")
    }
    let alpha = try number("lora_alpha") ?? 8
    let dropout = try number("lora_dropout") ?? 0
    let targets: [String]
    switch present("target_modules") {
    case .array(let list):
      let names = list.compactMap(\.string)
      guard names.count == list.count else {
        throw fail("target_modules", "must be a list of module names")
      }
      targets = names.sorted {
        (Self.projectionNames.firstIndex(of: $0) ?? .max)
          < (Self.projectionNames.firstIndex(of: $1) ?? .max)
      }
    case .string(let pattern):
      throw fail(
        "target_modules", "is the pattern '\(pattern)'; list the module names instead")
    default:
      throw fail("target_modules", "must be a list of module names")
    }
    if let bias = try text("bias"), bias != "none" {
      throw fail("bias", "is '\(bias)'; adapters with biases are not supported")
    }
    for key in ["use_dora", "fan_in_fan_out"] where try flag(key) {
      throw fail(key, "is true; not supported")
    }
    for key in ["rank_pattern", "alpha_pattern"] {
      if let pattern = present(key), pattern.object?.isEmpty != true {
        throw fail(key, "sets per-module ranks or alphas; not supported")
      }
    }
    if present("layers_to_transform") != nil {
      throw fail("layers_to_transform", "adapts some layers only; not supported")
    }
    self.init(
      rank: Int(rank), alpha: alpha, dropout: dropout, targets: targets,
      useRSLoRA: try flag("use_rslora"))
    do {
      try validate()
    } catch {
      throw fail(error.key, error.message)
    }
  }
}

extension LoRAModel {
  /// Writes PEFT's adapter folder: `adapter_config.json` and `adapter_model.safetensors`
  /// (`base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight`, …), which
  /// `PeftModel.from_pretrained(base, directory)` loads. The dropout generator's state rides in
  /// the safetensors metadata, so a checkpoint resumes exactly.
  /// - Parameters:
  ///   - extraEntries: more tensors for the weights file (a task head under PEFT's name).
  ///   - taskType, modulesToSave: see ``LoRAConfiguration/peftJSON(baseModel:taskType:modulesToSave:)``.
  public func saveAdapter(
    to directory: String, extraEntries: [SafeTensorsEntry] = [], taskType: String = "CAUSAL_LM",
    modulesToSave: [String]? = nil
  ) throws {
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw ModelDirectoryError(path: directory, "cannot create: \(error.localizedDescription)")
    }
    let entries =
      adapters.flatMap {
        [SafeTensorsEntry($0.a.name, $0.a.value), SafeTensorsEntry($0.b.name, $0.b.value)]
      }
      + extraEntries
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let state = String(decoding: try encoder.encode(dropoutState), as: UTF8.self)
    try SafeTensors.write(
      entries, metadata: ["format": "pt", PEFTAdapterFiles.dropoutStateKey: state],
      to: directory + "/" + PEFTAdapterFiles.weights)
    let json = try configuration.peftJSON(
      baseModel: baseModelPath, taskType: taskType, modulesToSave: modulesToSave)
    try ModelDirectory(path: directory).writeJSON(json, to: PEFTAdapterFiles.configuration)
  }

  /// Adapters on `base` read from a PEFT adapter folder (written by ``saveAdapter(to:extraEntries:taskType:modulesToSave:)``
  /// or by PEFT).
  /// - Throws: ``LoRAConfigurationError`` for the settings, ``ModelDirectoryError`` naming the
  ///   file and tensor for a missing, misshapen or unexpected weight.
  public convenience init(base: Llama, adapterDirectory directory: String) throws {
    let configuration = try LoRAConfiguration(
      peftConfigurationAt: directory + "/" + PEFTAdapterFiles.configuration)
    self.init(base: base, configuration: configuration)
    try loadAdapterWeights(fromDirectory: directory)
  }

  /// Reads `adapter_model.safetensors` of `directory` into the adapters (and the dropout state
  /// when the file carries it).
  /// - Parameter allowUnexpected: names of other tensors the file may hold (read by the caller).
  /// - Throws: ``ModelDirectoryError`` naming the file and tensor.
  public func loadAdapterWeights(
    fromDirectory directory: String, allowUnexpected: Set<String> = []
  ) throws {
    let path = directory + "/" + PEFTAdapterFiles.weights
    guard FileManager.default.fileExists(atPath: path) else {
      throw ModelDirectoryError(path: path, "not found; is \(directory) a PEFT adapter folder?")
    }
    let file = try SafeTensorsFile(path: path)
    var tensors: [String: Tensor] = [:]
    let expected = Set(adapters.flatMap { [$0.a.name, $0.b.name] })
    for adapter in adapters {
      for parameter in [adapter.a, adapter.b] {
        guard let info = file.info(named: parameter.name) else {
          throw ModelDirectoryError(
            path: path, tensor: parameter.name,
            "missing adapter weight (expected shape \(parameter.shape))")
        }
        guard info.shape == parameter.shape else {
          throw ModelDirectoryError(
            path: path, tensor: parameter.name,
            "shape \(info.shape) does not fit the base model and r, which need \(parameter.shape)")
        }
        tensors[parameter.name] = try file.tensor(named: parameter.name)
      }
    }
    for name in file.names.sorted()
    where !expected.contains(name) && !allowUnexpected.contains(name) {
      throw ModelDirectoryError(
        path: path, tensor: name, "unexpected tensor for this base model and target_modules")
    }
    for adapter in adapters {
      for parameter in [adapter.a, adapter.b] { parameter.assign(tensors[parameter.name]!) }
    }
    if let text = file.metadata[PEFTAdapterFiles.dropoutStateKey] {
      guard
        let state = try? JSONDecoder().decode(PhiloxRNG.State.self, from: Data(text.utf8)),
        (0...4).contains(state.word)
      else {
        throw ModelDirectoryError(
          path: path, "metadata \(PEFTAdapterFiles.dropoutStateKey) '\(text)' is malformed")
      }
      dropoutState = state
    }
  }
}

extension ModelDirectory {
  /// Where the chat files (tokenizer, chat template, generation defaults) of this model run with
  /// the adapters of `adapter` are: the adapter folder when it has them (a LoRA run of
  /// `minillm sft` writes them there; it has a `tokenizer_config.json`), else this directory.
  public func chatFiles(adapter: String?) -> ModelDirectory {
    guard let adapter else { return self }
    let folder = ModelDirectory(path: adapter)
    return FileManager.default.fileExists(atPath: folder.file("tokenizer_config.json"))
      ? folder : self
  }
}
