import Foundation
import MiniTensor
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// Random preference pairs over `vocabulary` ids written as a JSONL file and loaded.
func randomPreferenceDataset(
  pairs: Int, vocabulary: Int = 64, maxPrompt: Int = 8, maxReply: Int = 8, seed: UInt64 = 1
) throws -> PreferenceDataset {
  var rng = PhiloxRNG(seed: seed)
  func ids(_ maxCount: Int) -> [Int32] {
    (0..<(1 + Int(rng.nextUInt32() % UInt32(maxCount)))).map { _ in
      Int32(1 + rng.nextUInt32() % UInt32(vocabulary - 1))
    }
  }
  var lines = ""
  for _ in 0..<pairs {
    let prompt = ids(maxPrompt)
    let chosen = ids(maxReply)
    var rejected = ids(maxReply)
    if rejected == chosen { rejected.append(1) }
    lines +=
      "{\"prompt_ids\": \(prompt), \"chosen_ids\": \(chosen), \"rejected_ids\": \(rejected)}\n"
  }
  let path = try temporaryDirectory("preferences") + "/pairs.jsonl"
  try Data(lines.utf8).write(to: URL(fileURLWithPath: path))
  return try PreferenceDataset(files: [path], vocabularySize: vocabulary)
}

@Suite("Preference batches and loader")
struct PreferenceLoaderTests {
  @Test func rowsArePromptPlusReplyWithTargetsOnlyOnReplyTokens() {
    let samples = [
      PreferenceSample(promptIDs: [5, 6, 7], chosenIDs: [8, 2], rejectedIDs: [9, 9, 9, 2]),
      PreferenceSample(promptIDs: [4], chosenIDs: [3, 3, 2], rejectedIDs: [2]),
    ]
    let batch = PreferenceBatch(samples: samples, pairIndices: [10, 3], padID: 0)
    #expect(batch.pairCount == 2 && batch.rows == 4)
    #expect(batch.sequenceLength == 7)
    let x: Int32 = PreferenceBatch.ignoreIndex
    #expect(
      batch.tokens == [
        5, 6, 7, 8, 2, 0, 0,
        4, 3, 3, 2, 0, 0, 0,
        5, 6, 7, 9, 9, 9, 2,
        4, 2, 0, 0, 0, 0, 0,
      ])
    #expect(
      batch.targets == [
        x, x, 8, 2, x, x, x,
        3, 3, 2, x, x, x, x,
        x, x, 9, 9, 9, 2, x,
        2, x, x, x, x, x, x,
      ])
    #expect(batch.lengths == [5, 4, 7, 2])
    #expect(batch.answerLengths == [2, 3, 4, 1])
    #expect(batch.lastTokenPositions == [4, 10, 20, 22])
    #expect(batch.pairIndices == [10, 3])
    #expect(batch.tokenCount == 18)
  }

  @Test func pairsTooLongAreLeftOutAndTheSplitIsDisjoint() throws {
    let dataset = try randomPreferenceDataset(pairs: 40, maxPrompt: 12, maxReply: 12)
    let all = PreferencePairs(dataset: dataset)
    #expect(all.count == 40 && all.excludedCount == 0)
    let limited = PreferencePairs(dataset: dataset, maxLength: 14)
    var expected = 0
    for i in 0..<dataset.count {
      let s = dataset[i]
      if s.promptIDs.count + max(s.chosenIDs.count, s.rejectedIDs.count) <= 14 { expected += 1 }
    }
    #expect(limited.count == expected && limited.excludedCount == 40 - expected)
    #expect(limited.count > 0 && limited.count < 40)

    let (training, heldOut) = all.split(heldOutFraction: 0.25, seed: 3)
    #expect(heldOut.count == 10 && training.count == 30)
    #expect(Set(training.indices).isDisjoint(with: heldOut.indices))
    #expect(Set(training.indices).union(heldOut.indices) == Set(0..<40))
    // Both parts mix the data set rather than cutting off its tail.
    #expect(heldOut.indices.contains { $0 < 30 })
    let again = all.split(heldOutFraction: 0.25, seed: 3)
    #expect(again.heldOut.indices == heldOut.indices)
  }

  @Test func everyPairOncePerEpochAndDifferentOrders() throws {
    let dataset = try randomPreferenceDataset(pairs: 23)
    let pairs = PreferencePairs(dataset: dataset)
    var loader = PreferenceLoader(pairs: pairs, batchSize: 4, seed: 9)
    #expect(loader.batchesPerEpoch == 5)
    var epochs: [[Int]] = []
    for _ in 0..<2 {
      var seen: [Int] = []
      for _ in 0..<loader.batchesPerEpoch { seen += loader.next().pairIndices }
      epochs.append(seen)
      #expect(Set(seen).count == 20)
    }
    #expect(epochs[0] != epochs[1])
    _ = loader.next()
    #expect(loader.epoch == 2)
  }

  @Test func restoredCursorContinuesIdentically() throws {
    let dataset = try randomPreferenceDataset(pairs: 17)
    let pairs = PreferencePairs(dataset: dataset)
    var loader = PreferenceLoader(pairs: pairs, batchSize: 3, seed: 4)
    for _ in 0..<7 { _ = loader.next() }
    let data = try JSONEncoder().encode(loader.cursor)
    let expected = (0..<9).map { _ in loader.next() }
    var resumed = PreferenceLoader(pairs: pairs, batchSize: 3, seed: 999)
    try resumed.restore(try JSONDecoder().decode(PreferenceLoader.Cursor.self, from: data))
    #expect((0..<9).map { _ in resumed.next() } == expected)
    #expect(resumed.epoch == loader.epoch)

    let other = PreferencePairs(dataset: try randomPreferenceDataset(pairs: 18))
    var wrong = PreferenceLoader(pairs: other, batchSize: 3, seed: 4)
    #expect(throws: DataLoaderError.self) { try wrong.restore(loader.cursor) }
  }

  @Test func ranksTakeDisjointSharesOfEachGlobalBatch() throws {
    let pairs = PreferencePairs(dataset: try randomPreferenceDataset(pairs: 20))
    var rank0 = PreferenceLoader(pairs: pairs, batchSize: 2, seed: 5, rank: 0, worldSize: 2)
    var rank1 = PreferenceLoader(pairs: pairs, batchSize: 2, seed: 5, rank: 1, worldSize: 2)
    var single = PreferenceLoader(pairs: pairs, batchSize: 4, seed: 5)
    for _ in 0..<6 {
      #expect(rank0.next().pairIndices + rank1.next().pairIndices == single.next().pairIndices)
      #expect(rank0.cursor == rank1.cursor)
    }
  }
}
