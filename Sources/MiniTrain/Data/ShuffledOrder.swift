import MiniTensor

/// The order in which a loader visits `count` items: each epoch a fresh permutation drawn from a
/// ``PhiloxRNG`` (or `0..<count` in order), consumed one global batch (`batchSize × worldSize`
/// items) at a time; items left over at the end of an epoch (fewer than one global batch) are
/// dropped. Every rank draws the same permutation and takes its own `batchSize` of each global
/// batch, so every rank's position is the same.
struct ShuffledOrder: Sendable {
  let count: Int
  let batchSize: Int
  let shuffle: Bool
  let rank: Int
  let worldSize: Int
  private var generator: PhiloxRNG
  /// The shuffle generator as it was when the epoch began (the permutation is drawn again from
  /// it on restore).
  private(set) var epochStart: PhiloxRNG.State
  private var order: [Int] = []
  /// Items of the epoch's permutation used so far (over all ranks).
  private(set) var position = 0
  /// Epoch index (0-based).
  private(set) var epoch = 0

  /// An order over `count` items shuffled from `seed` on the generator stream `stream`.
  /// - Precondition: one global batch fits in the items (checked by the loaders).
  init(
    count: Int, batchSize: Int, shuffle: Bool, seed: UInt64, stream: UInt64, rank: Int,
    worldSize: Int
  ) {
    self.count = count
    self.batchSize = batchSize
    self.shuffle = shuffle
    self.rank = rank
    self.worldSize = worldSize
    generator = PhiloxRNG(seed: seed, stream: stream)
    epochStart = generator.state
    startEpoch()
  }

  /// Micro-batches (on this rank) in one epoch.
  var batchesPerEpoch: Int { count / (batchSize * worldSize) }

  private mutating func startEpoch() {
    epochStart = generator.state
    order = Array(0..<count)
    if shuffle {
      for i in stride(from: order.count - 1, to: 0, by: -1) {
        let j = Int(generator.next().multipliedFullWidth(by: UInt64(i + 1)).high)
        order.swapAt(i, j)
      }
    }
    position = 0
  }

  /// The item indices of this rank's next micro-batch.
  mutating func next() -> ArraySlice<Int> {
    let global = batchSize * worldSize
    if position + global > order.count {
      epoch += 1
      startEpoch()
    }
    let start = position + rank * batchSize
    position += global
    return order[start..<(start + batchSize)]
  }

  /// Continues from a saved epoch, position and epoch-start generator.
  /// - Throws: ``DataLoaderError`` when the position is out of range.
  mutating func restore(epoch: Int, position: Int, shuffleState: PhiloxRNG.State) throws {
    guard position >= 0 && position <= count && epoch >= 0 else {
      throw DataLoaderError("the saved data position \(position) is out of range")
    }
    generator = PhiloxRNG(state: shuffleState)
    startEpoch()
    self.epoch = epoch
    self.position = position
  }
}
