import MiniAutograd
import MiniLlama
import MiniTensor

/// A model the ``Trainer`` can train and checkpoint: its parameters in one ``ParameterArena``,
/// written and read as a model directory.
public protocol TrainableModel: Module {
  /// Every parameter, contiguous.
  var arena: ParameterArena { get }
  /// Writes a model directory (for a Llama: `config.json`, `model.safetensors`,
  /// `generation_config.json`, and whatever else the caller adds, such as `tokenizer.model`).
  func save(to directory: String) throws
  /// Reads the weights of a directory written by ``save(to:)`` into the arena.
  func loadWeights(fromDirectory directory: String) throws
  /// The folder of the run that receives the final ``save(to:)``: `model` (the default), or
  /// `adapter` for low-rank adapters.
  var outputFolderName: String { get }
  /// The base's architecture when ``save(to:)`` writes an adapter folder (which has no
  /// `config.json`); `nil` (the default) for a model directory.
  var adapterBaseConfig: LlamaConfig? { get }
}

extension TrainableModel {
  public var outputFolderName: String { "model" }
  public var adapterBaseConfig: LlamaConfig? { nil }
}

extension TrainableModel {
  /// Reads `model.safetensors` of `directory` into the arena; every parameter must be present
  /// with its shape.
  public func loadWeights(fromDirectory directory: String) throws {
    let path = directory + "/model.safetensors"
    let file = try SafeTensorsFile(path: path)
    do {
      try arena.load(file.loadAll())
    } catch {
      throw CheckpointError(path: path, "\(error)")
    }
  }
}

extension Llama: TrainableModel {}
