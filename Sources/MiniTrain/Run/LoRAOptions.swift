import MiniLlama

/// The LoRA settings given to a fine-tuning session (`--lora-rank`, `--lora-alpha`,
/// `--lora-dropout`, `--lora-targets`, `--use-rslora`), as a layer over those of the run it
/// resumes.
public struct LoRAOptions: Sendable, Equatable {
  /// `--lora-rank`: adapters of this rank; without it (and without a stored run that has
  /// adapters) the whole model trains.
  public var rank: Int?
  /// `--lora-alpha` (default `2 · rank`).
  public var alpha: Double?
  /// `--lora-dropout` (default 0).
  public var dropout: Double?
  /// `--lora-targets` (default every projection).
  public var targets: [String]?
  /// `--use-rslora`.
  public var useRSLoRA: Bool?

  /// A layer of the settings given.
  public init(
    rank: Int? = nil, alpha: Double? = nil, dropout: Double? = nil, targets: [String]? = nil,
    useRSLoRA: Bool? = nil
  ) {
    self.rank = rank
    self.alpha = alpha
    self.dropout = dropout
    self.targets = targets
    self.useRSLoRA = useRSLoRA
  }

  /// The adapters of the session: these settings over `stored`'s (a resumed run keeps its
  /// adapters unless told otherwise), or `nil` to train the whole model.
  /// - Throws: ``TrainingRunError/setting(_:_:)`` for a LoRA setting without a rank, or an
  ///   invalid value.
  public func resolve(over stored: LoRAConfiguration?) throws -> LoRAConfiguration? {
    guard let rank = rank ?? stored?.rank else {
      let given: [(String, Bool)] = [
        ("--lora-alpha", alpha != nil), ("--lora-dropout", dropout != nil),
        ("--lora-targets", targets != nil), ("--use-rslora", useRSLoRA == true),
      ]
      if let flag = given.first(where: \.1)?.0 {
        throw TrainingRunError.setting(flag, "needs --lora-rank")
      }
      return nil
    }
    // A new rank drops the stored alpha (its default follows the rank).
    let storedAlpha = self.rank == nil || self.rank == stored?.rank ? stored?.alpha : nil
    let configuration = LoRAConfiguration(
      rank: rank, alpha: alpha ?? storedAlpha, dropout: dropout ?? stored?.dropout ?? 0,
      targets: targets ?? stored?.targets ?? LoRAConfiguration.projectionNames,
      useRSLoRA: useRSLoRA ?? stored?.useRSLoRA ?? false)
    do {
      try configuration.validate()
    } catch {
      throw TrainingRunError.setting(error.flagName, error.message)
    }
    return configuration
  }
}
