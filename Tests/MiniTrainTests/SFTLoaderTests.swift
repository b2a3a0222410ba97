import Foundation
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// Writes `samples` as one JSONL shard and loads it.
func makeSFTDataset(_ samples: [SFTSample], vocabulary: Int) throws -> SFTDataset {
  let path = try temporaryDirectory("sft") + "/shard-00000.jsonl"
  var text = ""
  for sample in samples {
    text += "{\"input_ids\": [\(sample.inputIDs.map(String.init).joined(separator: ", "))], "
    text += "\"loss_mask\": [\(sample.lossMask.map(String.init).joined(separator: ", "))]}\n"
  }
  try Data(text.utf8).write(to: URL(fileURLWithPath: path))
  return try SFTDataset(files: [path], vocabularySize: vocabulary)
}

/// `count` samples of random lengths in `3...maxLength`: a prompt, then a supervised reply.
func mixedLengthSamples(count: Int, maxLength: Int = 120, seed: UInt64 = 1) -> [SFTSample] {
  var rng = PhiloxRNG(seed: seed)
  return (0..<count).map { _ in
    let length = 3 + Int(rng.nextUInt32() % UInt32(maxLength - 2))
    let prompt = 1 + Int(rng.nextUInt32() % UInt32(length - 1))
    let ids = (0..<length).map { _ in Int32(rng.nextUInt32() % 60) + 3 }
    return SFTSample(
      inputIDs: ids,
      lossMask: (0..<length).map { $0 < prompt ? 0 : 1 })
  }
}

@Suite struct SFTLoaderTests {
  /// One epoch's batches.
  func epoch(_ loader: inout SFTLoader) throws -> [SFTBatch] {
    try (0..<loader.batchesPerEpoch).map { _ in try loader.next() }
  }

  @Test func lengthGroupingCutsPadding() throws {
    let dataset = try makeSFTDataset(mixedLengthSamples(count: 203), vocabulary: 64)
    var grouped = SFTLoader(
      samples: SFTSubset(dataset: dataset), batchSize: 8, paddingID: 0, seed: 3)
    var plain = SFTLoader(
      samples: SFTSubset(dataset: dataset), batchSize: 8, paddingID: 0, seed: 3, bucketBatches: 0)
    let groupedBatches = try epoch(&grouped)
    let plainBatches = try epoch(&plain)
    func padding(_ batches: [SFTBatch]) -> Double {
      let pads = batches.reduce(0) { $0 + $1.paddingCount }
      let positions = batches.reduce(0) { $0 + $1.rows * $1.width }
      return Double(pads) / Double(positions)
    }
    print(
      "padding: grouped \(padding(groupedBatches)), plain \(padding(plainBatches)) "
        + "(203 samples of 3…120 tokens, batches of 8)")
    #expect(padding(groupedBatches) < padding(plainBatches) / 4)
    // Both see the same tokens.
    #expect(
      groupedBatches.reduce(0) { $0 + $1.tokenCount }
        == plainBatches.reduce(0) { $0 + $1.tokenCount })
    // Batches are shuffled, not in length order.
    let widths = groupedBatches.map(\.width)
    #expect(widths != widths.sorted(by: >) && widths != widths.sorted())
  }

  @Test(arguments: [(37, 4, 50), (40, 8, 1), (23, 5, 0)])
  func everySampleOncePerEpoch(count: Int, batchSize: Int, bucketBatches: Int) throws {
    let dataset = try makeSFTDataset(mixedLengthSamples(count: count), vocabulary: 64)
    var loader = SFTLoader(
      samples: SFTSubset(dataset: dataset), batchSize: batchSize, paddingID: 0, seed: 9,
      bucketBatches: bucketBatches)
    #expect(loader.batchesPerEpoch == (count + batchSize - 1) / batchSize)
    var orders: [[Int]] = []
    for expectedEpoch in 0..<3 {
      let batches = try epoch(&loader)
      #expect(loader.epoch == expectedEpoch)
      let seen = batches.flatMap(\.sampleIndices)
      #expect(seen.sorted() == Array(0..<count), "epoch \(expectedEpoch)")
      #expect(batches.allSatisfy { $0.rows <= batchSize })
      orders.append(seen)
    }
    #expect(orders[0] != orders[1] && orders[1] != orders[2], "each epoch is reshuffled")
  }

  @Test func ranksShareEachGlobalBatch() throws {
    let dataset = try makeSFTDataset(mixedLengthSamples(count: 29), vocabulary: 64)
    var ranks = (0..<2).map {
      SFTLoader(
        samples: SFTSubset(dataset: dataset), batchSize: 4, paddingID: 0, seed: 5, rank: $0,
        worldSize: 2)
    }
    // 29 = 3 global batches of 8 and a last one of 5, dealt 3 + 2.
    #expect(ranks[0].batchesPerEpoch == 4)
    var seen: [Int] = []
    for _ in 0..<4 {
      let pair = try [ranks[0].next(), ranks[1].next()]
      #expect(Set(pair[0].sampleIndices).isDisjoint(with: pair[1].sampleIndices))
      seen += pair.flatMap(\.sampleIndices)
    }
    #expect(seen.sorted() == Array(0..<29))
  }

  @Test func ranksFollowTheOneRankPlanAndSkipABatchTooSmallToShare() throws {
    let dataset = try makeSFTDataset(mixedLengthSamples(count: 29), vocabulary: 64)
    let subset = SFTSubset(dataset: dataset)
    // One rank with micro-batches of 4: 7 batches of 4 and one of 1 per epoch.
    var single = SFTLoader(samples: subset, batchSize: 4, paddingID: 0, seed: 5)
    let plan = try (0..<8).map { _ in try single.next().sampleIndices }
    #expect(plan.map(\.count).sorted() == [1, 4, 4, 4, 4, 4, 4, 4])
    // Two ranks with micro-batches of 2 deal the same batches in the same order, halves each,
    // and skip the batch of 1 (it cannot give both ranks a sample) where it falls.
    var ranks = (0..<2).map {
      SFTLoader(
        samples: subset, batchSize: 2, paddingID: 0, seed: 5, rank: $0, worldSize: 2)
    }
    #expect(ranks[0].batchesPerEpoch == 7)
    for batch in plan where batch.count == 4 {
      let pair = try [ranks[0].next(), ranks[1].next()]
      #expect(pair[0].sampleIndices + pair[1].sampleIndices == batch)
    }
    #expect(ranks[0].epoch == 0 && ranks[0].cursor == ranks[1].cursor)
    // The next batch comes from the second epoch.
    _ = try [ranks[0].next(), ranks[1].next()]
    #expect(ranks[0].epoch == 1 && ranks[1].epoch == 1)
  }

  @Test func aRestoredCursorContinuesIdentically() throws {
    let dataset = try makeSFTDataset(mixedLengthSamples(count: 45), vocabulary: 64)
    let subset = SFTSubset(dataset: dataset)
    var loader = SFTLoader(samples: subset, batchSize: 4, paddingID: 0, maxLength: 64, seed: 11)
    // Stop inside the second epoch (12 batches per epoch).
    for _ in 0..<17 { _ = try loader.next() }
    let saved = try JSONDecoder().decode(
      SFTLoader.Cursor.self, from: JSONEncoder().encode(loader.cursor))
    #expect(saved == loader.cursor && saved.epoch == 1)
    let expected = try (0..<20).map { _ in try loader.next() }

    var resumed = SFTLoader(samples: subset, batchSize: 4, paddingID: 0, maxLength: 64, seed: 11)
    try resumed.restore(saved)
    let continued = try (0..<20).map { _ in try resumed.next() }
    #expect(continued == expected)
    #expect(resumed.epoch == loader.epoch && resumed.cursor == loader.cursor)

    // Another seed gives other batches; a cursor of other data is refused.
    var fresh = SFTLoader(samples: subset, batchSize: 4, paddingID: 0, maxLength: 64, seed: 11)
    var other = SFTLoader(samples: subset, batchSize: 4, paddingID: 0, maxLength: 64, seed: 12)
    #expect(try (0..<3).map { _ in try other.next() } != (0..<3).map { _ in try fresh.next() })
    let smaller = SFTSubset(dataset: dataset, indices: Array(0..<44))
    var wrong = SFTLoader(samples: smaller, batchSize: 4, paddingID: 0, seed: 11)
    #expect(throws: DataLoaderError.self) { try wrong.restore(saved) }
  }

  @Test func heldOutSplitIsDisjointAndSeeded() throws {
    let dataset = try makeSFTDataset(mixedLengthSamples(count: 50), vocabulary: 64)
    let all = SFTSubset(dataset: dataset)
    let (training, heldOut) = all.split(heldOutFraction: 0.1, seed: 4)
    #expect(heldOut.count == 5 && training.count == 45)
    #expect(Set(training.indices).isDisjoint(with: heldOut.indices))
    #expect(Set(training.indices + heldOut.indices) == Set(0..<50))
    #expect(all.split(heldOutFraction: 0.1, seed: 4).heldOut.indices == heldOut.indices)
    #expect(all.split(heldOutFraction: 0.1, seed: 5).heldOut.indices != heldOut.indices)
    #expect(all.split(heldOutFraction: 0, seed: 4).heldOut.count == 0)
    // Two samples: one is held out however small the fraction.
    let two = SFTSubset(dataset: dataset, indices: [3, 7]).split(heldOutFraction: 0.01, seed: 0)
    #expect(two.heldOut.count == 1 && two.training.count == 1)

    // Evaluation batches: every held-out sample once, shortest first.
    let batches = heldOut.evaluationBatches(batchSize: 2, paddingID: 0)
    #expect(batches.map(\.rows) == [2, 2, 1])
    #expect(batches.flatMap(\.sampleIndices).sorted() == heldOut.indices.sorted())
    let lengths = batches.flatMap(\.sampleIndices).map { dataset.length(of: $0) }
    #expect(lengths == lengths.sorted())
    #expect(heldOut.evaluationBatches(batchSize: 2, paddingID: 0, limit: 1).count == 1)
  }
}
