import Foundation

/// A task ready to run: its configuration, the documents it evaluates and the pool its few-shot
/// examples come from.
public struct EvalTask: Sendable {
  public var config: TaskConfig
  /// The evaluated split (`test_split`, else `validation_split`).
  public var documents: [TaskDocument]
  /// The few-shot pool (`fewshot_split`, else training, validation or test split, as the
  /// harness falls back).
  public var fewshotDocuments: [TaskDocument]
  /// Whether the few-shot pool is the evaluated split named as `fewshot_split` (each document is
  /// then left out of its own examples).
  public var fewshotIsEvaluatedSplit: Bool
  /// The file the task was read from (for messages).
  public var origin: String

  /// A task over documents already read.
  public init(
    config: TaskConfig, documents: [TaskDocument], fewshotDocuments: [TaskDocument],
    fewshotIsEvaluatedSplit: Bool = false, origin: String
  ) {
    self.config = config
    self.documents = documents
    self.fewshotDocuments = fewshotDocuments
    self.fewshotIsEvaluatedSplit = fewshotIsEvaluatedSplit
    self.origin = origin
  }

  /// Reads a task YAML file and its data.
  /// - Throws: `EvalError` naming the file and key or row at fault.
  public init(contentsOf path: String) throws {
    let config = try TaskConfig(contentsOf: path)
    try self.init(config: config, origin: path)
  }

  /// Reads the data of `config`.
  public init(config: TaskConfig, origin: String) throws {
    func split(_ name: String) throws -> [TaskDocument] {
      try TaskDataReader.read(config.dataFiles[name] ?? [], format: config.datasetFormat)
    }
    let evaluated = config.testSplit ?? config.validationSplit!
    let documents = try split(evaluated)
    guard !documents.isEmpty else {
      throw EvalError(file: origin, at: "split \(evaluated)", "has no documents")
    }
    let poolName =
      config.fewshotSplit ?? config.trainingSplit ?? config.validationSplit ?? evaluated
    let pool = poolName == evaluated ? documents : try split(poolName)
    self.init(
      config: config, documents: documents, fewshotDocuments: pool,
      fewshotIsEvaluatedSplit: config.fewshotSplit != nil
        && config.fewshotSplit == config.testSplit,
      origin: origin)
  }
}
