import Synchronization

/// A byte-level BPE model: a vocabulary of byte strings and ranked merges, applied to one
/// pre-tokenized piece at a time as `tokenizers` applies them (the lowest-ranked pair first,
/// the leftmost of equal pairs first), with a cache of the pieces already seen.
final class BPEModel: Sendable {
  /// The id of each single byte, or -1 when the vocabulary lacks it.
  let byteIDs: [Int32]
  /// `rank << 32 | merged id` for each mergeable pair `left << 32 | right`.
  let merges: [UInt64: UInt64]
  /// Ids by the bytes they stand for (for `ignoreMerges`).
  let vocabulary: [[UInt8]: Int32]
  /// Whole pieces found in the vocabulary are taken as they are, before any merge (Llama 3).
  let ignoreMerges: Bool
  /// The id given to a byte the vocabulary lacks; such bytes are dropped when `nil`.
  let unknownID: Int32?

  /// Pieces of up to 16 bytes seen before, with their ids.
  private let cache = Mutex<[CacheKey: [Int32]]>([:])
  /// The cache stops growing at this many pieces, as `tokenizers`' does.
  static let cacheCapacity = 200_000

  init(
    vocabulary: [[UInt8]: Int32], merges: [UInt64: UInt64], ignoreMerges: Bool,
    unknownID: Int32?
  ) {
    var byteIDs = [Int32](repeating: -1, count: 256)
    for byte in 0..<256 { byteIDs[byte] = vocabulary[[UInt8(byte)]] ?? -1 }
    self.byteIDs = byteIDs
    self.vocabulary = vocabulary
    self.merges = merges
    self.ignoreMerges = ignoreMerges
    self.unknownID = unknownID
  }

  /// A piece of up to 16 bytes, packed without allocating.
  struct CacheKey: Hashable {
    var low: UInt64
    var high: UInt64
    var count: Int

    init?(_ bytes: UnsafeBufferPointer<UInt8>) {
      guard bytes.count <= 16 else { return nil }
      low = 0
      high = 0
      count = bytes.count
      for (index, byte) in bytes.enumerated() {
        if index < 8 {
          low |= UInt64(byte) << (8 * UInt64(index))
        } else {
          high |= UInt64(byte) << (8 * UInt64(index - 8))
        }
      }
    }
  }

  /// Appends the ids of one piece to `ids`; `work` is scratch space.
  func encode(_ piece: UnsafeBufferPointer<UInt8>, into ids: inout [Int32], work: inout Work) {
    let key = CacheKey(piece)
    if let key, let cached = cache.withLock({ $0[key] }) {
      ids.append(contentsOf: cached)
      return
    }
    let start = ids.count
    if ignoreMerges, let id = vocabulary[Array(piece)] {
      ids.append(id)
    } else {
      merge(piece, into: &ids, work: &work)
    }
    if let key {
      let result = Array(ids[start...])
      cache.withLock { cache in
        if cache.count < Self.cacheCapacity { cache[key] = result }
      }
    }
  }

  /// Scratch space of `merge`: the symbols as a linked list, and a heap of candidate pairs.
  struct Work {
    var ids: [Int32] = []
    var next: [Int32] = []
    var previous: [Int32] = []
    var heap: [UInt64] = []
  }

  /// Applies the merges to the bytes of `piece`.
  private func merge(
    _ piece: UnsafeBufferPointer<UInt8>, into output: inout [Int32], work: inout Work
  ) {
    work.ids.removeAll(keepingCapacity: true)
    for byte in piece {
      let id = byteIDs[Int(byte)]
      if id >= 0 {
        work.ids.append(id)
      } else if let unknownID {
        work.ids.append(unknownID)
      }
    }
    let count = work.ids.count
    if count < 2 {
      output.append(contentsOf: work.ids)
      return
    }
    work.next.removeAll(keepingCapacity: true)
    work.previous.removeAll(keepingCapacity: true)
    for index in 0..<count {
      work.next.append(index + 1 < count ? Int32(index + 1) : -1)
      work.previous.append(Int32(index - 1))
    }
    work.heap.removeAll(keepingCapacity: true)
    func rank(_ left: Int32, _ right: Int32) -> UInt64? {
      merges[UInt64(UInt32(bitPattern: left)) << 32 | UInt64(UInt32(bitPattern: right))]
    }
    for index in 0..<count - 1 {
      if let found = rank(work.ids[index], work.ids[index + 1]) {
        Self.push((found >> 32) << 32 | UInt64(index), &work.heap)
      }
    }
    while let top = Self.pop(&work.heap) {
      let position = Int(top & 0xFFFF_FFFF)
      let wanted = top >> 32
      let left = work.ids[position]
      let nextPosition = work.next[position]
      // Stale: the symbol was merged away, or its pair changed since the entry was pushed.
      guard left >= 0, nextPosition >= 0,
        let found = rank(left, work.ids[Int(nextPosition)]), found >> 32 == wanted
      else { continue }
      let merged = Int32(truncatingIfNeeded: found & 0xFFFF_FFFF)
      work.ids[position] = merged
      let right = Int(nextPosition)
      work.ids[right] = -1
      let after = work.next[right]
      work.next[position] = after
      if after >= 0 { work.previous[Int(after)] = Int32(position) }
      let before = work.previous[position]
      if before >= 0, let pair = rank(work.ids[Int(before)], merged) {
        Self.push((pair >> 32) << 32 | UInt64(before), &work.heap)
      }
      if after >= 0, let pair = rank(merged, work.ids[Int(after)]) {
        Self.push((pair >> 32) << 32 | UInt64(position), &work.heap)
      }
    }
    var index: Int32 = 0
    while index >= 0 {
      output.append(work.ids[Int(index)])
      index = work.next[Int(index)]
    }
  }

  private static func push(_ value: UInt64, _ heap: inout [UInt64]) {
    heap.append(value)
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard heap[parent] > heap[child] else { break }
      heap.swapAt(parent, child)
      child = parent
    }
  }

  private static func pop(_ heap: inout [UInt64]) -> UInt64? {
    guard let top = heap.first else { return nil }
    let last = heap.removeLast()
    if heap.isEmpty { return top }
    heap[0] = last
    var parent = 0
    while true {
      let left = 2 * parent + 1
      guard left < heap.count else { break }
      var smallest = left
      if left + 1 < heap.count && heap[left + 1] < heap[left] { smallest = left + 1 }
      guard heap[smallest] < heap[parent] else { break }
      heap.swapAt(parent, smallest)
      parent = smallest
    }
    return top
  }
}
