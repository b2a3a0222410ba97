import MiniTokenize

/// A token-shard data set cut into windows of `sequenceLength + 1` tokens: window `i` holds
/// tokens `i·T ..< i·T + T + 1`, so consecutive windows share one token (the last target of one
/// is the first input of the next) and every token is predicted once per epoch.
public struct TokenWindows: Sendable {
  /// The tokens.
  public let dataset: TokenDataset
  /// Inputs per window (`T`).
  public let sequenceLength: Int
  /// The window indices in use.
  public let indices: Range<Int>

  /// All windows of `dataset`.
  public init(dataset: TokenDataset, sequenceLength: Int) {
    precondition(sequenceLength > 0, "TokenWindows: sequence length \(sequenceLength)")
    self.init(
      dataset: dataset, sequenceLength: sequenceLength,
      indices: 0..<Self.windowCount(tokens: dataset.count, sequenceLength: sequenceLength))
  }

  private init(dataset: TokenDataset, sequenceLength: Int, indices: Range<Int>) {
    self.dataset = dataset
    self.sequenceLength = sequenceLength
    self.indices = indices
  }

  /// Windows of `sequenceLength + 1` tokens in `tokens` tokens.
  public static func windowCount(tokens: Int, sequenceLength: Int) -> Int {
    max(0, (tokens - 1) / sequenceLength)
  }

  /// Number of windows.
  public var count: Int { indices.count }

  /// The first `count` windows (all when there are fewer).
  public func prefix(_ count: Int) -> TokenWindows {
    TokenWindows(
      dataset: dataset, sequenceLength: sequenceLength,
      indices: indices.lowerBound..<min(indices.upperBound, indices.lowerBound + max(0, count)))
  }

  /// Splits off the last `heldOutFraction` of the windows (at least one when there are two or
  /// more) for evaluation. One window between the two parts is left out so that no token is
  /// both trained on and held out.
  public func split(heldOutFraction: Double) -> (training: TokenWindows, heldOut: TokenWindows) {
    precondition(
      (0..<1).contains(heldOutFraction), "TokenWindows.split: fraction \(heldOutFraction)")
    guard heldOutFraction > 0, count >= 3 else {
      return (self, TokenWindows(dataset: dataset, sequenceLength: sequenceLength, indices: 0..<0))
    }
    let held = min(count - 2, max(1, Int((Double(count) * heldOutFraction).rounded())))
    let heldStart = indices.upperBound - held
    return (
      TokenWindows(
        dataset: dataset, sequenceLength: sequenceLength,
        indices: indices.lowerBound..<(heldStart - 1)),
      TokenWindows(
        dataset: dataset, sequenceLength: sequenceLength, indices: heldStart..<indices.upperBound)
    )
  }

  /// The tokens of window `indices.lowerBound + offset`.
  public func window(_ offset: Int) throws -> [Int32] {
    precondition(offset >= 0 && offset < count, "TokenWindows: window \(offset) of \(count)")
    return try dataset.window(
      at: (indices.lowerBound + offset) * sequenceLength, count: sequenceLength + 1)
  }

  /// A batch of the windows at `offsets`.
  public func batch(_ offsets: some Collection<Int>) throws -> TokenBatch {
    var tokens: [Int32] = []
    tokens.reserveCapacity(offsets.count * (sequenceLength + 1))
    for offset in offsets { tokens += try window(offset) }
    return TokenBatch(tokens: tokens, rows: offsets.count, sequenceLength: sequenceLength)
  }

  /// Consecutive batches of `batchSize` windows in order, at most `limit` of them (the last may
  /// be smaller): the fixed evaluation set.
  public func sequentialBatches(batchSize: Int, limit: Int? = nil) throws -> [TokenBatch] {
    precondition(batchSize > 0, "sequentialBatches: batch size \(batchSize)")
    var result: [TokenBatch] = []
    var start = 0
    while start < count && result.count < (limit ?? .max) {
      let end = min(count, start + batchSize)
      result.append(try batch(start..<end))
      start = end
    }
    return result
  }
}
