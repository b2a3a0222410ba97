import MiniTensor

/// Micro-batches of token windows in a shuffled order that depends only on the seed: each epoch
/// is a fresh permutation of the windows drawn from a ``PhiloxRNG``; windows left over at the
/// end of an epoch (fewer than one global batch) are dropped.
///
/// With several ranks, each call takes the next `worldSize × batchSize` windows of the
/// permutation and returns this rank's `batchSize` of them, so every rank's cursor is the same.
public struct TokenWindowLoader: DataLoader {
  /// The saved position: the epoch, the windows used in it, and the shuffle generator as it was
  /// when the epoch began (the permutation is drawn again from it on restore).
  public struct Cursor: Codable, Sendable, Equatable {
    /// Epoch index (0-based).
    public var epoch: Int
    /// Windows of the epoch's permutation used so far (over all ranks).
    public var position: Int
    /// The shuffle generator at the start of the epoch.
    public var shuffleState: PhiloxRNG.State
    /// Windows per epoch (checked on restore).
    public var windowCount: Int

    enum CodingKeys: String, CodingKey {
      case epoch, position
      case shuffleState = "shuffle_rng"
      case windowCount = "window_count"
    }
  }

  /// The windows.
  public let windows: TokenWindows
  /// Windows per micro-batch on this rank.
  public let batchSize: Int
  /// Whether each epoch is shuffled.
  public let shuffle: Bool
  /// This rank.
  public let rank: Int
  /// Number of ranks.
  public let worldSize: Int
  private var generator: PhiloxRNG
  private var epochStart: PhiloxRNG.State
  private var order: [Int] = []
  private var position = 0
  public private(set) var epoch = 0

  /// A loader over `windows`, shuffled from `seed`.
  /// - Precondition: one global batch fits in the windows.
  public init(
    windows: TokenWindows, batchSize: Int, shuffle: Bool = true, seed: UInt64, rank: Int = 0,
    worldSize: Int = 1
  ) {
    precondition(
      batchSize > 0 && worldSize > 0 && (0..<worldSize).contains(rank),
      "TokenWindowLoader: batch \(batchSize), rank \(rank) of \(worldSize)")
    precondition(
      windows.count >= batchSize * worldSize,
      "TokenWindowLoader: \(windows.count) windows cannot fill a batch of \(batchSize * worldSize)"
    )
    self.windows = windows
    self.batchSize = batchSize
    self.shuffle = shuffle
    self.rank = rank
    self.worldSize = worldSize
    generator = PhiloxRNG(seed: seed, stream: 0x5348_5546)
    epochStart = generator.state
    startEpoch()
  }

  /// Micro-batches (on this rank) in one epoch.
  public var batchesPerEpoch: Int { windows.count / (batchSize * worldSize) }

  private mutating func startEpoch() {
    epochStart = generator.state
    order = Array(0..<windows.count)
    if shuffle {
      for i in stride(from: order.count - 1, to: 0, by: -1) {
        let j = Int(generator.next().multipliedFullWidth(by: UInt64(i + 1)).high)
        order.swapAt(i, j)
      }
    }
    position = 0
  }

  /// The next micro-batch of this rank.
  public mutating func next() throws -> TokenBatch {
    let global = batchSize * worldSize
    if position + global > order.count {
      epoch += 1
      startEpoch()
    }
    let start = position + rank * batchSize
    let batch = try windows.batch(order[start..<(start + batchSize)])
    position += global
    return batch
  }

  /// The position after the last batch.
  public var cursor: Cursor {
    Cursor(epoch: epoch, position: position, shuffleState: epochStart, windowCount: windows.count)
  }

  /// Continues from `cursor`.
  /// - Throws: ``DataLoaderError`` when the cursor was saved for a different number of windows.
  public mutating func restore(_ cursor: Cursor) throws {
    guard cursor.windowCount == windows.count else {
      throw DataLoaderError(
        "the saved data position is for \(cursor.windowCount) windows, this data has "
          + "\(windows.count) (different data, sequence length or held-out split)")
    }
    guard cursor.position >= 0 && cursor.position <= windows.count && cursor.epoch >= 0 else {
      throw DataLoaderError("the saved data position \(cursor.position) is out of range")
    }
    generator = PhiloxRNG(state: cursor.shuffleState)
    startEpoch()
    epoch = cursor.epoch
    position = cursor.position
  }
}
