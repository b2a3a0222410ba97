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
  /// Continues `prompt`: one batched prefill of the whole prompt into a `KVCache`, then one
  /// cached decoding step per new token.
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
    let cache = KVCache(config: config, capacity: prompt.count + budget)
    var sampler = Sampler(options.sampling)
    var history = prompt
    var generated: [Int32] = []
    var input = prompt
    while generated.count < budget {
      // Only the last position's logits are needed: the head runs on one row.
      let hidden = hiddenStates(input, cache: cache).value.reshaped([-1, config.hiddenSize])
      let lastHidden = hidden[row: input.count - 1].reshaped([1, config.hiddenSize])
      let last = logits(Variable(lastHidden), tape: nil).value.scalars
      let token = sampler.next(logits: last, history: history)
      generated.append(token)
      history.append(token)
      if !onToken(token) || options.stopTokens.contains(token) { break }
      input = [token]
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
