import ArgumentParser
import Foundation
import MiniLlama
import MiniTokenize
import MiniTrain

/// Everything a pretraining run was started with, resolved from the flags; stored as the run's
/// `config.json` and read back by `--resume` (flags not given again keep their stored values).
struct PretrainSettings: Codable, Equatable {
  var stage = "pretrain"
  /// The token shard folder (absolute).
  var data: String
  /// Tokens in the data (checked on resume).
  var dataTokens: Int
  /// SHA-256 of the data's tokenizer (checked on resume).
  var tokenizerSHA256: String
  /// The preset the model came from, if any.
  var preset: String?
  /// The model.
  var model: LlamaConfig
  var sequenceLength: Int
  var batchSize: Int
  var microBatchSize: Int
  var seed: UInt64
  var evalFraction: Double
  var evalBatches: Int
  var epochs: Double?
  var training: TrainingConfiguration
  var schedule: LearningRateSchedule
  var optimizer: AdamW

  enum CodingKeys: String, CodingKey {
    case stage, data, preset, model, seed, epochs, training, schedule, optimizer
    case dataTokens = "data_tokens"
    case tokenizerSHA256 = "tokenizer_sha256"
    case sequenceLength = "sequence_length"
    case batchSize = "batch_size"
    case microBatchSize = "micro_batch_size"
    case evalFraction = "eval_fraction"
    case evalBatches = "eval_batches"
  }

  func encoded() throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return Array(try encoder.encode(self)) + [0x0A]
  }

  static func read(_ path: String) throws -> PretrainSettings {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CommandLineError("\(path): cannot read")
    }
    do {
      return try JSONDecoder().decode(PretrainSettings.self, from: data)
    } catch {
      throw CommandLineError("\(path): not a pretraining run configuration: \(error)")
    }
  }

  /// The settings that a resumed run must share with the stored ones for the checkpoint to
  /// continue exactly; each difference as `flag: stored → given`.
  func structuralDifferences(from stored: PretrainSettings) -> [String] {
    var result: [String] = []
    func compare<T: Equatable>(_ flag: String, _ mine: T, _ theirs: T) {
      if mine != theirs { result.append("\(flag): \(theirs) → \(mine)") }
    }
    compare("--preset/--config (model)", model, stored.model)
    compare("--data (tokens)", dataTokens, stored.dataTokens)
    compare("--data (tokenizer)", tokenizerSHA256, stored.tokenizerSHA256)
    compare("--seq-len", sequenceLength, stored.sequenceLength)
    compare("--batch-size", batchSize, stored.batchSize)
    compare("--micro-batch-size", microBatchSize, stored.microBatchSize)
    compare("--seed", seed, stored.seed)
    compare("--eval-fraction", evalFraction, stored.evalFraction)
    return result
  }
}

extension LearningRateSchedule.Kind: ExpressibleByArgument {}
