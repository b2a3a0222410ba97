import MiniTensor
import MiniTokenize

/// Some samples of an ``SFTDataset`` (all of them, or one side of a train/held-out split), in a
/// fixed order.
public struct SFTSubset: Sendable {
  /// The data set.
  public let dataset: SFTDataset
  /// The samples' indices in `dataset`.
  public let indices: [Int]

  /// Every sample of `dataset`, in order.
  public init(dataset: SFTDataset) {
    self.init(dataset: dataset, indices: Array(0..<dataset.count))
  }

  /// The samples `indices` of `dataset`, in that order.
  /// - Precondition: every index is a sample of `dataset`.
  public init(dataset: SFTDataset, indices: [Int]) {
    precondition(
      indices.allSatisfy { $0 >= 0 && $0 < dataset.count },
      "SFTSubset: an index is outside 0..<\(dataset.count)")
    self.dataset = dataset
    self.indices = indices
  }

  /// Number of samples.
  public var count: Int { indices.count }

  /// Tokens over the samples.
  public var tokenCount: Int { indices.reduce(0) { $0 + dataset.length(of: $1) } }

  /// The tokens of the sample at `position`, at most `maxLength`.
  public func length(at position: Int, maxLength: Int? = nil) -> Int {
    min(dataset.length(of: indices[position]), maxLength ?? .max)
  }

  /// Splits off a random `heldOutFraction` of the samples (at least one when there are two or
  /// more) for evaluation, drawn from `seed`. The training part keeps the subset's order; the
  /// held-out part is in the order drawn, so its first samples are a random sample of it.
  public func split(heldOutFraction: Double, seed: UInt64) -> (
    training: SFTSubset, heldOut: SFTSubset
  ) {
    precondition(
      (0..<1).contains(heldOutFraction), "SFTSubset.split: fraction \(heldOutFraction)")
    guard heldOutFraction > 0, count >= 2 else {
      return (self, SFTSubset(dataset: dataset, indices: []))
    }
    let held = min(count - 1, max(1, Int((Double(count) * heldOutFraction).rounded())))
    var generator = PhiloxRNG(seed: seed, stream: 0x484F_4C44)
    var order = Array(0..<count)
    for i in stride(from: order.count - 1, to: 0, by: -1) {
      order.swapAt(i, Int(generator.next().multipliedFullWidth(by: UInt64(i + 1)).high))
    }
    let heldPositions = order.prefix(held)
    let heldSet = Set(heldPositions)
    return (
      SFTSubset(
        dataset: dataset,
        indices: indices.indices.filter { !heldSet.contains($0) }.map { indices[$0] }),
      SFTSubset(dataset: dataset, indices: heldPositions.map { indices[$0] })
    )
  }

  /// The batch of the samples at `positions` of this subset.
  public func batch(
    _ positions: some Collection<Int>, paddingID: Int32, maxLength: Int? = nil
  ) -> SFTBatch {
    let chosen = positions.map { indices[$0] }
    return SFTBatch(
      samples: chosen.map { dataset[$0] }, paddingID: paddingID, maxLength: maxLength,
      sampleIndices: chosen)
  }

  /// The fixed evaluation set: the first `limit × batchSize` samples (all when `limit` is
  /// `nil`), ordered by length so that little is padded, in batches of `batchSize` (the last
  /// may be smaller).
  public func evaluationBatches(
    batchSize: Int, paddingID: Int32, maxLength: Int? = nil, limit: Int? = nil
  ) -> [SFTBatch] {
    precondition(batchSize > 0, "SFTSubset.evaluationBatches: batch size \(batchSize)")
    let taken = min(count, limit.map { $0 * batchSize } ?? count)
    let ordered = (0..<taken).sorted {
      (length(at: $0, maxLength: maxLength), $0) < (length(at: $1, maxLength: maxLength), $1)
    }
    return stride(from: 0, to: taken, by: batchSize).map {
      batch(
        ordered[$0..<min(taken, $0 + batchSize)], paddingID: paddingID, maxLength: maxLength)
    }
  }
}
