import MiniTensor

/// Micro-batches of preference pairs in a shuffled order that depends only on the seed: each
/// epoch is a fresh permutation of the pairs drawn from a ``PhiloxRNG``; pairs left over at the
/// end of an epoch (fewer than one global batch) are dropped.
///
/// With several ranks, each call takes the next `worldSize × batchSize` pairs of the
/// permutation and returns this rank's `batchSize` of them, so every rank's cursor is the same.
public struct PreferenceLoader: DataLoader {
  /// The saved position: the epoch, the pairs used in it, and the shuffle generator as it was
  /// when the epoch began (the permutation is drawn again from it on restore).
  public struct Cursor: Codable, Sendable, Equatable {
    /// Epoch index (0-based).
    public var epoch: Int
    /// Pairs of the epoch's permutation used so far (over all ranks).
    public var position: Int
    /// The shuffle generator at the start of the epoch.
    public var shuffleState: PhiloxRNG.State
    /// Pairs per epoch (checked on restore).
    public var pairCount: Int

    enum CodingKeys: String, CodingKey {
      case epoch, position
      case shuffleState = "shuffle_rng"
      case pairCount = "pair_count"
    }
  }

  /// The pairs.
  public let pairs: PreferencePairs
  /// Pairs per micro-batch on this rank.
  public let batchSize: Int
  /// Whether each epoch is shuffled.
  public let shuffle: Bool
  /// This rank.
  public let rank: Int
  /// Number of ranks.
  public let worldSize: Int
  private var order: ShuffledOrder
  /// Epoch index (0-based).
  public var epoch: Int { order.epoch }

  /// A loader over `pairs`, shuffled from `seed`.
  /// - Precondition: one global batch fits in the pairs.
  public init(
    pairs: PreferencePairs, batchSize: Int, shuffle: Bool = true, seed: UInt64, rank: Int = 0,
    worldSize: Int = 1
  ) {
    precondition(
      batchSize > 0 && worldSize > 0 && (0..<worldSize).contains(rank),
      "PreferenceLoader: batch \(batchSize), rank \(rank) of \(worldSize)")
    precondition(
      pairs.count >= batchSize * worldSize,
      "PreferenceLoader: \(pairs.count) pairs cannot fill a batch of \(batchSize * worldSize)")
    self.pairs = pairs
    self.batchSize = batchSize
    self.shuffle = shuffle
    self.rank = rank
    self.worldSize = worldSize
    order = ShuffledOrder(
      count: pairs.count, batchSize: batchSize, shuffle: shuffle, seed: seed, stream: 0x5052_4546,
      rank: rank,
      worldSize: worldSize)
  }

  /// Micro-batches (on this rank) in one epoch.
  public var batchesPerEpoch: Int { order.batchesPerEpoch }

  /// The next micro-batch of this rank.
  public mutating func next() -> PreferenceBatch {
    pairs.batch(order.next())
  }

  /// The position after the last batch.
  public var cursor: Cursor {
    Cursor(
      epoch: order.epoch, position: order.position, shuffleState: order.epochStart,
      pairCount: pairs.count)
  }

  /// Continues from `cursor`.
  /// - Throws: ``DataLoaderError`` when the cursor was saved for a different number of pairs.
  public mutating func restore(_ cursor: Cursor) throws {
    guard cursor.pairCount == pairs.count else {
      throw DataLoaderError(
        "the saved data position is for \(cursor.pairCount) pairs, this data has "
          + "\(pairs.count) (different data, maximum length or held-out split)")
    }
    try order.restore(
      epoch: cursor.epoch, position: cursor.position, shuffleState: cursor.shuffleState)
  }
}
