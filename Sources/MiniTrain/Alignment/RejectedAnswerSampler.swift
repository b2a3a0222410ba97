import MiniLlama
import MiniTokenize

/// Samples a model's own replies to serve as the rejected side of preference pairs, the way
/// MINI_LLM builds DPO data from SFT data: the record's reference answer is chosen, the SFT
/// model's sampled answer rejected.
///
/// Reply `n` (the `n`-th prompt asked, from 0) is drawn with a sampler seeded from the base
/// seed and `n` only, so a run over the same inputs with the same seed writes the same replies.
///
/// ```swift
/// let sampler = RejectedAnswerSampler(model: sft, tokenizer: tokenizer, sampling: sampling,
///                                     maxNewTokens: 256, stopTokens: stops)
/// try await PreferencePipeline.run(..., rejectedGenerator: sampler.generator())
/// ```
public struct RejectedAnswerSampler {
  /// The model answering.
  public let model: Llama
  /// Decodes the replies.
  public let tokenizer: any Tokenizer
  /// How tokens are chosen; `seed` is the base seed.
  public let sampling: SamplingOptions
  /// At most this many tokens per reply (fewer when the prompt leaves less room).
  public let maxNewTokens: Int
  /// Tokens that end a reply (left out of its text).
  public let stopTokens: Set<Int32>

  /// A sampler.
  /// - Precondition: `maxNewTokens > 0`.
  public init(
    model: Llama, tokenizer: any Tokenizer, sampling: SamplingOptions, maxNewTokens: Int,
    stopTokens: Set<Int32>
  ) {
    precondition(maxNewTokens > 0, "RejectedAnswerSampler: maxNewTokens \(maxNewTokens)")
    self.model = model
    self.tokenizer = tokenizer
    self.sampling = sampling
    self.maxNewTokens = maxNewTokens
    self.stopTokens = stopTokens
  }

  /// The sampling settings of reply `index`: the base settings with a seed mixed from the base
  /// seed and `index`.
  public func sampling(forReply index: Int) -> SamplingOptions {
    sampling.numbered(index)
  }

  /// The text of the model's reply `index` to `promptIDs` (a rendered prompt ending with the
  /// assistant's prefix). A prompt that fills the model's context gets an empty reply.
  /// - Throws: `TokenizerError` when decoding fails.
  public func reply(to promptIDs: [Int32], index: Int) throws -> String {
    guard !promptIDs.isEmpty, promptIDs.count < model.config.maxPositions else { return "" }
    let options = GenerationOptions(
      maxNewTokens: maxNewTokens, sampling: sampling(forReply: index), stopTokens: stopTokens)
    var tokens = model.generate(prompt: promptIDs, options: options)
    if let last = tokens.last, stopTokens.contains(last) { tokens.removeLast() }
    return try tokenizer.decode(tokens.map(Int.init))
  }

  /// A generator for `PreferencePipeline.run(…, rejectedGenerator:)` that numbers the prompts
  /// it is asked in order (the pipeline asks in input order).
  public func generator() -> RejectedAnswerGenerator {
    var next = 0
    return { _, promptIDs in
      defer { next += 1 }
      return try reply(to: promptIDs, index: next)
    }
  }
}
