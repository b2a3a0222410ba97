import MiniTokenize

/// A micro-batch of SFT samples, right-padded to the longest one: row `r` position `t` is the
/// input token `t` of sample `r`, whose target is token `t + 1` when that token is supervised
/// (its loss mask is 1) and ``ignoredTarget`` otherwise. A sample of `L` tokens fills `L − 1`
/// positions (its last token is only a target); padded positions are never supervised.
///
/// Because the model is causal and the padding is on the right, pads change no logit of a real
/// position, and the pad id only has to be a valid token.
public struct SFTBatch: Sendable, Equatable {
  /// The target of a position that is not trained on (`crossEntropy`'s default `ignoreIndex`).
  public static let ignoredTarget: Int32 = -100

  /// `rows × width` input ids, row-major, right-padded.
  public var inputs: [Int32]
  /// `rows × width` target ids, ``ignoredTarget`` where nothing is supervised.
  public var targets: [Int32]
  /// Number of samples.
  public var rows: Int
  /// Positions per row: the longest sample's length minus one (at least 1).
  public var width: Int
  /// Positions holding a real token (the rest are padding).
  public var tokenCount: Int
  /// Positions with a supervised target.
  public var supervisedCount: Int
  /// The samples' indices in their data set, when the batch came from a loader (else empty).
  public var sampleIndices: [Int]

  /// Padded positions.
  public var paddingCount: Int { rows * width - tokenCount }

  /// A batch of `samples`, each first cut to `maxLength` tokens when longer.
  /// - Parameters:
  ///   - samples: at least one sample.
  ///   - paddingID: the id written into padded input positions.
  ///   - maxLength: the most tokens taken from a sample (at least 2), or `nil` for no limit.
  ///   - sampleIndices: the samples' indices in their data set, if known.
  /// - Precondition: every sample's mask has its ids' length; `maxLength ≥ 2`.
  public init(
    samples: [SFTSample], paddingID: Int32, maxLength: Int? = nil, sampleIndices: [Int] = []
  ) {
    precondition(!samples.isEmpty, "SFTBatch: no samples")
    precondition((maxLength ?? 2) >= 2, "SFTBatch: maxLength \(maxLength ?? 0) < 2")
    precondition(
      sampleIndices.isEmpty || sampleIndices.count == samples.count,
      "SFTBatch: \(sampleIndices.count) indices for \(samples.count) samples")
    let limit = maxLength ?? .max
    let lengths = samples.map { sample in
      precondition(
        sample.lossMask.count == sample.inputIDs.count,
        "SFTBatch: \(sample.inputIDs.count) ids with \(sample.lossMask.count) mask values")
      return min(sample.inputIDs.count, limit)
    }
    let width = max(1, (lengths.max() ?? 1) - 1)
    var inputs = [Int32](repeating: paddingID, count: samples.count * width)
    var targets = [Int32](repeating: Self.ignoredTarget, count: samples.count * width)
    var tokenCount = 0
    var supervisedCount = 0
    for (row, sample) in samples.enumerated() {
      let positions = lengths[row] - 1
      let base = row * width
      for t in 0..<max(0, positions) {
        inputs[base + t] = sample.inputIDs[t]
        if sample.lossMask[t + 1] != 0 {
          targets[base + t] = sample.inputIDs[t + 1]
          supervisedCount += 1
        }
      }
      tokenCount += max(0, positions)
    }
    self.inputs = inputs
    self.targets = targets
    self.rows = samples.count
    self.width = width
    self.tokenCount = tokenCount
    self.supervisedCount = supervisedCount
    self.sampleIndices = sampleIndices
  }
}
