import MiniAutograd
import MiniLlama

/// Low-rank adapters train like any model: the ``Trainer``'s optimizer sees only the adapters'
/// arena, every checkpoint holds PEFT's adapter files (with the dropout generator's state) beside
/// the optimizer state, and the run's final adapters go to `RUN/adapter/`.
extension LoRAModel: TrainableModel {
  /// Writes PEFT's adapter folder (``saveAdapter(to:extraEntries:taskType:modulesToSave:)``).
  public func save(to directory: String) throws { try saveAdapter(to: directory) }

  /// Reads the adapters written by ``save(to:)``.
  public func loadWeights(fromDirectory directory: String) throws {
    try loadAdapterWeights(fromDirectory: directory)
  }

  /// `adapter`.
  public var outputFolderName: String { "adapter" }

  public var adapterBaseConfig: LlamaConfig? { base.config }
}
