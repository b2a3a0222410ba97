import MiniTensor
import MiniTokenize

/// The pairs of a ``PreferenceDataset`` that a run uses: those whose prompt plus longer reply
/// fit the model's context, optionally split into training and held-out parts.
public struct PreferencePairs: Sendable {
  /// The data.
  public let dataset: PreferenceDataset
  /// The data set indices of the pairs in use, ascending.
  public let indices: [Int]
  /// The id padding each row of a batch.
  public let padID: Int32
  /// Pairs of the data set left out because they are longer than `maxLength`.
  public let excludedCount: Int

  /// Every pair of `dataset` whose prompt plus longer reply takes at most `maxLength` tokens.
  public init(dataset: PreferenceDataset, maxLength: Int? = nil, padID: Int32 = 0) {
    precondition(
      maxLength.map { $0 > 1 } ?? true, "PreferencePairs: maxLength \(maxLength ?? 0)")
    var kept: [Int] = []
    for index in 0..<dataset.count {
      let sample = dataset[index]
      let length = sample.promptIDs.count + max(sample.chosenIDs.count, sample.rejectedIDs.count)
      if let maxLength, length > maxLength { continue }
      kept.append(index)
    }
    self.init(
      dataset: dataset, indices: kept, padID: padID, excludedCount: dataset.count - kept.count)
  }

  private init(dataset: PreferenceDataset, indices: [Int], padID: Int32, excludedCount: Int) {
    self.dataset = dataset
    self.indices = indices
    self.padID = padID
    self.excludedCount = excludedCount
  }

  /// Number of pairs in use.
  public var count: Int { indices.count }

  /// Prompt plus longer reply of pair `offset`, in tokens.
  public func length(of offset: Int) -> Int {
    let sample = self[offset]
    return sample.promptIDs.count + max(sample.chosenIDs.count, sample.rejectedIDs.count)
  }

  /// The sample of pair `offset` (an index into ``indices``).
  public subscript(offset: Int) -> PreferenceSample {
    precondition(offset >= 0 && offset < count, "PreferencePairs: pair \(offset) of \(count)")
    return dataset[indices[offset]]
  }

  /// Holds out `heldOutFraction` of the pairs (at least one when there are two or more),
  /// chosen by a generator seeded with `seed`, so both parts mix the whole data set.
  public func split(heldOutFraction: Double, seed: UInt64 = 0) -> (
    training: PreferencePairs, heldOut: PreferencePairs
  ) {
    precondition(
      (0..<1).contains(heldOutFraction), "PreferencePairs.split: fraction \(heldOutFraction)")
    guard heldOutFraction > 0, count >= 2 else {
      return (self, PreferencePairs(dataset: dataset, indices: [], padID: padID, excludedCount: 0))
    }
    let held = min(count - 1, max(1, Int((Double(count) * heldOutFraction).rounded())))
    var order = Array(0..<count)
    var rng = PhiloxRNG(seed: seed, stream: 0x484F_4C44)
    for i in stride(from: order.count - 1, to: 0, by: -1) {
      let j = Int(rng.next().multipliedFullWidth(by: UInt64(i + 1)).high)
      order.swapAt(i, j)
    }
    let heldOffsets = Set(order.prefix(held))
    var training: [Int] = []
    var heldOut: [Int] = []
    for (offset, index) in indices.enumerated() {
      if heldOffsets.contains(offset) { heldOut.append(index) } else { training.append(index) }
    }
    return (
      PreferencePairs(
        dataset: dataset, indices: training, padID: padID, excludedCount: excludedCount),
      PreferencePairs(dataset: dataset, indices: heldOut, padID: padID, excludedCount: 0)
    )
  }

  /// A batch of the pairs at `offsets` (indices into ``indices``).
  public func batch(_ offsets: some Collection<Int>) -> PreferenceBatch {
    PreferenceBatch(
      samples: offsets.map { self[$0] }, pairIndices: offsets.map { indices[$0] }, padID: padID)
  }

  /// Consecutive batches of `batchSize` pairs in order, at most `limit` of them (the last may
  /// be smaller): the fixed evaluation set.
  public func sequentialBatches(batchSize: Int, limit: Int? = nil) -> [PreferenceBatch] {
    precondition(batchSize > 0, "sequentialBatches: batch size \(batchSize)")
    var result: [PreferenceBatch] = []
    var start = 0
    while start < count && result.count < (limit ?? .max) {
      let end = min(count, start + batchSize)
      result.append(batch(start..<end))
      start = end
    }
    return result
  }
}
