import Foundation
import MiniLlama
import MiniTrain

/// `minillm pretrain`'s defaults and wording for the shared training flags.
enum PretrainStage: TrainingStage {
  static let name = "pretrain"
  static let unit = "windows"
  static let defaults = TrainingDefaults(
    learningRate: 5e-4, epochs: 1, batchSize: 8, evalFraction: 0.02)
  static let seedHelp = "Seed of the initial weights and of the data order (default 0)."
  static let batchSizeHelp = "Sequences per optimizer step (default: the preset's, 8)."
}

/// What a pretraining run stores in `RUN/config.json` besides the training settings; read back
/// by `--resume` (flags not given again keep their stored values).
struct PretrainSettings: StageSettings {
  static let stage = "pretrain"
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

  enum CodingKeys: String, CodingKey {
    case data, preset, model
    case dataTokens = "data_tokens"
    case tokenizerSHA256 = "tokenizer_sha256"
    case sequenceLength = "sequence_length"
  }

  func structuralDifferences(from stored: PretrainSettings) -> [String] {
    var result: [String] = []
    func compare<T: Equatable>(_ flag: String, _ mine: T, _ theirs: T) {
      if mine != theirs { result.append("\(flag): \(theirs) → \(mine)") }
    }
    compare("--preset/--config (model)", model, stored.model)
    compare("--data (tokens)", dataTokens, stored.dataTokens)
    compare("--data (tokenizer)", tokenizerSHA256, stored.tokenizerSHA256)
    compare("--seq-len", sequenceLength, stored.sequenceLength)
    return result
  }
}
