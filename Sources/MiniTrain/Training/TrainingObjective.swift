import MiniAutograd
import MiniLlama
import MiniTensor

/// What an objective computes on one micro-batch.
public struct ObjectiveOutput {
  /// The scalar loss (tracked when a tape was given).
  public var loss: Variable
  /// Extra figures to log (averaged over micro-batches and ranks by batch weight).
  public var metrics: [String: Double]
  /// Extra figures to log as totals (summed over micro-batches and ranks), such as token
  /// counts.
  public var counts: [String: Double]

  /// An output with `loss` and optional `metrics` and `counts`.
  public init(loss: Variable, metrics: [String: Double] = [:], counts: [String: Double] = [:]) {
    self.loss = loss
    self.metrics = metrics
    self.counts = counts
  }
}

/// A training loss over batches (causal LM, masked SFT, and the alignment losses).
///
/// The trainer combines micro-batches by ``weight(of:)``: the step's gradient is that of
/// `Σ wᵢ·lossᵢ / Σ wᵢ`, which for a per-token mean loss with `wᵢ` = tokens counted is the mean
/// over all tokens of the big batch.
public protocol TrainingObjective {
  /// One micro-batch.
  associatedtype Batch
  /// The loss of `batch`: recorded on `tape` for training, untracked (evaluation) when `nil`.
  func loss(on batch: Batch, tape: Tape?) throws -> ObjectiveOutput
  /// How much `batch` counts in the step's mean (e.g. its number of predicted tokens).
  func weight(of batch: Batch) -> Double
  /// Tokens in `batch`, for throughput figures.
  func tokenCount(of batch: Batch) -> Int
}

/// Next-token cross-entropy of a ``Llama`` on windows of tokens: the mean over every position of
/// the batch.
public struct CausalLanguageModelObjective: TrainingObjective {
  /// The model.
  public let model: Llama

  /// The objective for `model`.
  public init(model: Llama) { self.model = model }

  /// Mean cross-entropy of predicting `targets` from `inputs`.
  public func loss(on batch: TokenBatch, tape: Tape?) -> ObjectiveOutput {
    let logits = model(batch.inputs, batch: batch.rows, tape: tape)
    let loss = crossEntropy(
      logits: logits.reshaped([batch.targetCount, model.config.vocabSize]),
      targets: batch.targets)
    return ObjectiveOutput(loss: loss)
  }

  /// Predicted tokens.
  public func weight(of batch: TokenBatch) -> Double { Double(batch.targetCount) }

  /// Input tokens.
  public func tokenCount(of batch: TokenBatch) -> Int { batch.targetCount }
}
