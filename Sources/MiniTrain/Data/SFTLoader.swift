import MiniTensor
import MiniTokenize

/// Micro-batches of SFT samples, epoch after epoch, in an order that depends only on the seed,
/// grouped by length so that little compute goes to padding (like transformers'
/// `group_by_length`).
///
/// Each epoch draws a permutation of the samples from a ``PhiloxRNG``, cuts it into chunks of
/// `bucketBatches` global batches, sorts each chunk by length (longest first), cuts the chunks
/// into global batches of `batchSize × worldSize` samples, and shuffles the list of batches.
/// Every sample is used once per epoch; the last batch of an epoch may be smaller (with several
/// ranks it is dealt round-robin, and skipped when it holds fewer samples than there are ranks;
/// it stays in the plan, so the order of the batches is the same for any number of ranks).
/// A batch is as wide as its longest sample (cut to `maxLength`).
///
/// The cursor holds the epoch, the batches used in it and the generator as it was when the
/// epoch began; ``restore(_:)`` draws the epoch's plan again, so a resumed run sees exactly the
/// batches it would have seen.
public struct SFTLoader: DataLoader {
  /// The saved position.
  public struct Cursor: Codable, Sendable, Equatable {
    /// Epoch index (0-based).
    public var epoch: Int
    /// Global batches of the epoch's plan used so far.
    public var position: Int
    /// The shuffle generator at the start of the epoch.
    public var shuffleState: PhiloxRNG.State
    /// Samples in the loader's subset (checked on restore).
    public var sampleCount: Int
    /// Tokens over those samples (checked on restore).
    public var tokenCount: Int

    enum CodingKeys: String, CodingKey {
      case epoch, position
      case shuffleState = "shuffle_rng"
      case sampleCount = "sample_count"
      case tokenCount = "token_count"
    }
  }

  /// The samples.
  public let samples: SFTSubset
  /// Samples per micro-batch on this rank.
  public let batchSize: Int
  /// The id of padded input positions.
  public let paddingID: Int32
  /// The most tokens taken from a sample (`nil`: all).
  public let maxLength: Int?
  /// Whether each epoch is shuffled (otherwise the subset's order is chunked and sorted).
  public let shuffle: Bool
  /// Global batches per length-sorted chunk (1 sorts within each batch only; 0 turns length
  /// grouping off).
  public let bucketBatches: Int
  /// This rank.
  public let rank: Int
  /// Number of ranks.
  public let worldSize: Int
  private let tokenTotal: Int
  private var generator: PhiloxRNG
  private var epochStart: PhiloxRNG.State
  private var plan: [[Int]] = []
  private var position = 0
  public private(set) var epoch = 0

  /// A loader over `samples`, shuffled from `seed`.
  /// - Parameters:
  ///   - samples: the training samples (at least `worldSize`).
  ///   - batchSize: samples per micro-batch on this rank.
  ///   - paddingID: the id written into padded positions.
  ///   - maxLength: samples are cut to this many tokens (at least 2), or `nil`.
  ///   - seed: the seed of the shuffling.
  ///   - shuffle: whether epochs are shuffled.
  ///   - bucketBatches: global batches per length-sorted chunk (50 as in transformers' length
  ///     grouping; 0 for no grouping).
  ///   - rank: this rank.
  ///   - worldSize: number of ranks.
  public init(
    samples: SFTSubset, batchSize: Int, paddingID: Int32, maxLength: Int? = nil, seed: UInt64,
    shuffle: Bool = true, bucketBatches: Int = 50, rank: Int = 0, worldSize: Int = 1
  ) {
    precondition(
      batchSize > 0 && worldSize > 0 && (0..<worldSize).contains(rank) && bucketBatches >= 0,
      "SFTLoader: batch \(batchSize), rank \(rank) of \(worldSize), bucket \(bucketBatches)")
    precondition(
      samples.count >= worldSize,
      "SFTLoader: \(samples.count) samples cannot give each of \(worldSize) ranks one")
    precondition((maxLength ?? 2) >= 2, "SFTLoader: maxLength \(maxLength ?? 0) < 2")
    self.samples = samples
    self.batchSize = batchSize
    self.paddingID = paddingID
    self.maxLength = maxLength
    self.shuffle = shuffle
    self.bucketBatches = bucketBatches
    self.rank = rank
    self.worldSize = worldSize
    tokenTotal = samples.tokenCount
    generator = PhiloxRNG(seed: seed, stream: 0x5346_5453)
    epochStart = generator.state
    startEpoch()
  }

  /// Micro-batches (on this rank) in one epoch.
  public var batchesPerEpoch: Int {
    let global = batchSize * worldSize
    let remainder = samples.count % global
    return samples.count / global + (remainder >= worldSize ? 1 : 0)
  }

  /// Draws the epoch's plan: the global batches, as positions in ``samples``.
  private mutating func startEpoch() {
    epochStart = generator.state
    var order = Array(0..<samples.count)
    if shuffle {
      for i in stride(from: order.count - 1, to: 0, by: -1) {
        order.swapAt(i, Int(generator.next().multipliedFullWidth(by: UInt64(i + 1)).high))
      }
    }
    let global = batchSize * worldSize
    if bucketBatches > 0 {
      let chunk = global * bucketBatches
      let lengths = order.map { samples.length(at: $0, maxLength: maxLength) }
      var sorted: [Int] = []
      sorted.reserveCapacity(order.count)
      for start in stride(from: 0, to: order.count, by: chunk) {
        let slots = start..<min(order.count, start + chunk)
        // Longest first; ties keep the permutation's order.
        sorted += slots.sorted { (-lengths[$0], $0) < (-lengths[$1], $1) }.map { order[$0] }
      }
      order = sorted
    }
    var batches = stride(from: 0, to: order.count, by: global).map {
      Array(order[$0..<min(order.count, $0 + global)])
    }
    if shuffle {
      for i in stride(from: batches.count - 1, to: 0, by: -1) {
        batches.swapAt(i, Int(generator.next().multipliedFullWidth(by: UInt64(i + 1)).high))
      }
    }
    plan = batches
    position = 0
  }

  /// The next micro-batch of this rank.
  public mutating func next() throws -> SFTBatch {
    var global: [Int] = []
    // A last batch with fewer samples than ranks cannot give every rank one: skip it.
    while global.count < worldSize {
      if position >= plan.count {
        epoch += 1
        startEpoch()
      }
      global = plan[position]
      position += 1
    }
    let mine: [Int]
    if global.count == batchSize * worldSize {
      mine = Array(global[(rank * batchSize)..<((rank + 1) * batchSize)])
    } else {
      mine = stride(from: rank, to: global.count, by: worldSize).map { global[$0] }
    }
    return samples.batch(mine, paddingID: paddingID, maxLength: maxLength)
  }

  /// The position after the last batch.
  public var cursor: Cursor {
    Cursor(
      epoch: epoch, position: position, shuffleState: epochStart, sampleCount: samples.count,
      tokenCount: tokenTotal)
  }

  /// Continues from `cursor`.
  /// - Throws: ``DataLoaderError`` when the cursor was saved for other samples.
  public mutating func restore(_ cursor: Cursor) throws {
    guard cursor.sampleCount == samples.count, cursor.tokenCount == tokenTotal else {
      throw DataLoaderError(
        "the saved data position is for \(cursor.sampleCount) samples of \(cursor.tokenCount) "
          + "tokens, this data has \(samples.count) of \(tokenTotal) (different data or "
          + "held-out split)")
    }
    generator = PhiloxRNG(state: cursor.shuffleState)
    startEpoch()
    guard cursor.epoch >= 0, cursor.position >= 0, cursor.position <= plan.count else {
      throw DataLoaderError("the saved data position \(cursor.position) is out of range")
    }
    epoch = cursor.epoch
    position = cursor.position
  }
}
