import MiniAutograd
import MiniTensor

/// What `Llama.generate(prompt:options:onToken:)` produces and when it stops.
public struct GenerationOptions: Sendable {
  /// At most this many new tokens.
  public var maxNewTokens: Int
  /// How each token is chosen.
  public var sampling: SamplingOptions
  /// Generation stops after producing any of these (the stop token is included in the output).
  public var stopTokens: Set<Int32>

  /// Options; by default 64 greedy tokens with no stop token.
  public init(
    maxNewTokens: Int = 64, sampling: SamplingOptions = .greedy, stopTokens: Set<Int32> = []
  ) {
    self.maxNewTokens = maxNewTokens
    self.sampling = sampling
    self.stopTokens = stopTokens
  }
}

extension Llama {
  /// Continues `prompt`: one batched prefill of the whole prompt into a `KVCache`
  /// (``prefill(_:cache:)``), then one cached ``decodeStep(_:caches:)`` per new token, so the
  /// tokens are those a server batching this sequence with others produces for the same seed.
  /// - Parameters:
  ///   - prompt: at least one token id.
  ///   - onToken: called with each new token as soon as it is chosen; return `false` to stop.
  /// - Returns: the new tokens (not the prompt).
  public func generate(
    prompt: [Int32], options: GenerationOptions = GenerationOptions(),
    onToken: (Int32) -> Bool = { _ in true }
  ) -> [Int32] {
    precondition(!prompt.isEmpty, "generate: empty prompt")
    precondition(
      prompt.allSatisfy { $0 >= 0 && Int($0) < config.vocabSize },
      "generate: prompt ids must be in 0..<\(config.vocabSize)")
    let budget = min(options.maxNewTokens, config.maxPositions - prompt.count)
    guard budget > 0 else { return [] }
    let cache = makeCache(capacity: prompt.count + budget)
    var sampler = Sampler(options.sampling)
    var history = prompt
    var generated: [Int32] = []
    var logits = prefill(prompt, cache: cache)
    while true {
      let token = sampler.next(logits: logits, history: history)
      generated.append(token)
      history.append(token)
      if !onToken(token) || options.stopTokens.contains(token) || generated.count >= budget {
        break
      }
      logits = decodeStep([token], caches: [cache]).scalars
    }
    return generated
  }

  /// The logits of the token after `tokens`, recomputing the whole sequence without a cache (the
  /// reference the cached path must equal).
  public func nextTokenLogits(_ tokens: [Int32]) -> [Float] {
    let logits = self(tokens).value.reshaped([-1, config.vocabSize])
    return logits[row: tokens.count - 1].scalars
  }
}
