import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain
import PipelineTestSupport
import TestSupport
import Testing

/// The windows `minillm eval` measures a model on, checked against the model.
@Suite struct TokenEvaluationTests {
  static func shards(vocabulary: Int = 64) throws -> String {
    let path = try temporaryDirectory() + "/data"
    _ = try writeDataset(
      patternDocuments(count: 20, vocabulary: vocabulary), vocabulary: vocabulary, into: path)
    return path
  }

  @Test func windowsDefaultToTheContextAndStopAtTheLimit() throws {
    let data = try Self.shards()
    let config = tinyConfig(vocabulary: 64, maxPositions: 16)
    let all = try TokenWindows.evaluation(of: data, for: config, modelPath: data)
    let dataset = try TokenDataset(directory: data)
    #expect(all.sequenceLength == 16)
    #expect(all.count == TokenWindows.windowCount(tokens: dataset.count, sequenceLength: 16))
    let some = try TokenWindows.evaluation(
      of: data, for: config, modelPath: data, sequenceLength: 8, limit: 3)
    #expect(some.count == 3 && some.sequenceLength == 8)
    #expect(
      try some.batch(0..<3).tokens
        == TokenWindows(dataset: dataset, sequenceLength: 8).batch(0..<3).tokens)
    #expect(some.prefix(10).count == 3, "a prefix never grows")
  }

  @Test func shardsAndLengthsTheModelCannotTakeAreRefusedNamingTheFlag() throws {
    let data = try Self.shards(vocabulary: 64)
    #expect(
      throws: TrainingRunError.setting("--data", "vocabulary 64 is larger than the model's 32")
    ) {
      try TokenWindows.evaluation(
        of: data, for: tinyConfig(vocabulary: 32, maxPositions: 16), modelPath: data)
    }
    let config = tinyConfig(vocabulary: 64, maxPositions: 16)
    #expect(
      throws: TrainingRunError.setting(
        "--seq-len", "17 exceeds the model's max_position_embeddings 16")
    ) { try TokenWindows.evaluation(of: data, for: config, modelPath: data, sequenceLength: 17) }
    let tokens = try TokenDataset(directory: data).count
    let tooLong = tokens + 1
    let wide = tinyConfig(vocabulary: 64, maxPositions: tooLong)
    #expect(
      throws: TrainingRunError.setting(
        "--data", "\(tokens) tokens hold no window of \(tooLong) + 1")
    ) { try TokenWindows.evaluation(of: data, for: wide, modelPath: data, sequenceLength: tooLong) }
    #expect(throws: TrainingRunError.self) {
      try TokenWindows.evaluation(of: data + "/missing", for: config, modelPath: data)
    }
  }
}
