import Foundation
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

@Suite struct DataLoaderTests {
  /// One document of tokens 1, 2, …, `count` (vocabulary `count + 1`).
  func countingDataset(_ count: Int) throws -> TokenDataset {
    try writeDataset(
      [(1...count).map { Int32($0) }], vocabulary: count + 1, into: try temporaryDirectory())
  }

  @Test func windowsOverlapByOneTokenAndCoverTheData() throws {
    let windows = TokenWindows(dataset: try countingDataset(41), sequenceLength: 8)
    #expect(windows.count == 5)  // (41 − 1) / 8
    #expect(try windows.window(0) == Array(1...9).map { Int32($0) })
    #expect(try windows.window(1) == Array(9...17).map { Int32($0) })
    let batch = try windows.batch([1, 0])
    #expect(batch.inputs == Array(9...16).map { Int32($0) } + Array(1...8).map { Int32($0) })
    #expect(batch.targets == Array(10...17).map { Int32($0) } + Array(2...9).map { Int32($0) })
  }

  @Test func heldOutSplitIsTheTailWithAGap() throws {
    let windows = TokenWindows(dataset: try countingDataset(801), sequenceLength: 8)
    let (training, heldOut) = windows.split(heldOutFraction: 0.1)
    #expect(heldOut.count == 10)
    #expect(training.count == 89)
    let lastTrained = try training.window(training.count - 1).last!
    let firstHeld = try heldOut.window(0).first!
    #expect(firstHeld > lastTrained)
    let batches = try heldOut.sequentialBatches(batchSize: 4)
    #expect(batches.map(\.rows) == [4, 4, 2])
    #expect(try heldOut.sequentialBatches(batchSize: 4, limit: 2).count == 2)
  }

  @Test(arguments: [UInt64(1), 2, 3])
  func shuffleIsAPermutationPerEpochFixedBySeed(seed: UInt64) throws {
    let windows = TokenWindows(dataset: try countingDataset(161), sequenceLength: 8)  // 20 windows
    var loader = TokenWindowLoader(windows: windows, batchSize: 3, seed: seed)
    #expect(loader.batchesPerEpoch == 6)
    var firstEpoch: [Int32] = []
    for _ in 0..<6 { firstEpoch += try loader.next().tokens }
    #expect(loader.epoch == 0)
    let starts = stride(from: 0, to: firstEpoch.count, by: 9).map { firstEpoch[$0] }
    #expect(Set(starts).count == 18)  // 18 distinct windows, 2 left over
    #expect(starts != starts.sorted())  // shuffled
    let secondBatch = try loader.next()
    #expect(loader.epoch == 1)
    var again = TokenWindowLoader(windows: windows, batchSize: 3, seed: seed)
    var repeated: [Int32] = []
    for _ in 0..<6 { repeated += try again.next().tokens }
    #expect(repeated == firstEpoch)
    #expect(try again.next() == secondBatch)
    var other = TokenWindowLoader(windows: windows, batchSize: 3, seed: seed + 100)
    #expect(try other.next().tokens != Array(firstEpoch[0..<27]))
  }

  @Test func restoredCursorContinuesTheSameSequence() throws {
    let windows = TokenWindows(dataset: try countingDataset(161), sequenceLength: 8)
    var loader = TokenWindowLoader(windows: windows, batchSize: 4, seed: 9)
    for _ in 0..<7 { _ = try loader.next() }  // into the second epoch
    let cursor = loader.cursor
    let encoded = try JSONEncoder().encode(cursor)
    let expected = try (0..<9).map { _ in try loader.next() }
    var fresh = TokenWindowLoader(windows: windows, batchSize: 4, seed: 9)
    try fresh.restore(try JSONDecoder().decode(TokenWindowLoader.Cursor.self, from: encoded))
    #expect(fresh.epoch == 1)
    #expect(try (0..<9).map { _ in try fresh.next() } == expected)
    let shorter = TokenWindows(dataset: try countingDataset(81), sequenceLength: 8)
    var mismatched = TokenWindowLoader(windows: shorter, batchSize: 4, seed: 9)
    #expect(throws: DataLoaderError.self) { try mismatched.restore(cursor) }
  }

  @Test func ranksTakeDisjointSlicesOfTheSameOrder() throws {
    let windows = TokenWindows(dataset: try countingDataset(161), sequenceLength: 8)
    var single = TokenWindowLoader(windows: windows, batchSize: 4, seed: 5)
    var rank0 = TokenWindowLoader(windows: windows, batchSize: 2, seed: 5, rank: 0, worldSize: 2)
    var rank1 = TokenWindowLoader(windows: windows, batchSize: 2, seed: 5, rank: 1, worldSize: 2)
    for _ in 0..<8 {
      let whole = try single.next().tokens
      #expect(try rank0.next().tokens + rank1.next().tokens == whole)
      #expect(rank0.cursor == rank1.cursor)
    }
  }
}
