import Foundation
import MiniLlama
import MiniTokenize

extension RejectedAnswerSampler {
  /// The sampler of an SFT model directory for `minillm data dpo --generate-rejected`: its
  /// weights, its stop tokens (the generation config's EOS and the template's end of turn) and
  /// its sampling defaults as `sampling` adjusts them.
  /// - Parameters:
  ///   - tokenizer: encodes the prompts; it must be the directory's own when it has one.
  ///   - maxNewTokens: most tokens per reply (default: the generation config's
  ///     `max_new_tokens`, else 256; at most half the context).
  /// - Throws: ``TrainingRunError/setting(_:_:)`` naming `--model` or `--tokenizer`.
  public init(
    directory: ModelDirectory, tokenizer: any Tokenizer, renderer: ChatRenderer,
    maxNewTokens: Int?, sampling: (SamplingOptions) -> SamplingOptions
  ) throws {
    let llama = try loadLlama(directory.path)
    guard tokenizer.vocabularySize <= llama.config.vocabSize else {
      throw TrainingRunError.setting(
        "--model",
        "\(directory.file("config.json")) has vocab_size \(llama.config.vocabSize), fewer "
          + "than the \(tokenizer.vocabularySize) pieces of the tokenizer")
    }
    if let own = try? directory.loadStoredTokenizer(),
      !own.tokenizer.sharesVocabulary(with: tokenizer)
    {
      throw TrainingRunError.setting(
        "--tokenizer",
        "not --model's tokenizer (\(directory.tokenizerFilePath)); "
          + "the prompts must be encoded as the model was trained")
    }
    let generation = try setting("--model") { try directory.loadGenerationConfig() }
    let context = llama.config.maxPositions
    let budget = maxNewTokens ?? min(generation.maxNewTokens ?? 256, max(1, context / 2))
    let stops = Set((generation.eosTokenIDs + renderer.stopTokenIDs).map(Int32.init))
    self.init(
      model: llama, tokenizer: tokenizer, sampling: sampling(generation.sampling),
      maxNewTokens: budget, stopTokens: stops)
  }
}
