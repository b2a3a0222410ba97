import MiniLlama
import MiniTensor

/// Samples completions of many prompts at once from a policy, with the KV-cached batched
/// decoding of `generate` and `serve`: each sequence is prefilled into its own cache, then
/// every step runs one `Llama.decodeStep(_:caches:)` over all unfinished sequences.
///
/// Sequence `n` is drawn with a sampler seeded from `sampling.seed` and `n` alone, so the same
/// weights, prompts and numbering give the same completions.
public struct RolloutSampler: Sendable {
  /// How tokens are chosen; `seed` is the base seed.
  public var sampling: SamplingOptions
  /// At most this many tokens per completion (fewer when the prompt leaves less room).
  public var maxNewTokens: Int
  /// Tokens that end a completion (kept as its last token).
  public var stopTokens: Set<Int32>

  /// A sampler.
  /// - Precondition: `maxNewTokens > 0`.
  public init(sampling: SamplingOptions, maxNewTokens: Int, stopTokens: Set<Int32>) {
    precondition(maxNewTokens > 0, "RolloutSampler: maxNewTokens \(maxNewTokens)")
    self.sampling = sampling
    self.maxNewTokens = maxNewTokens
    self.stopTokens = stopTokens
  }

  /// The sampling settings of sequence `index`: a seed mixed from the base seed and `index`
  /// (SplitMix64's finaliser, so neighbouring indices get unrelated seeds).
  public func sampling(forSequence index: Int) -> SamplingOptions {
    sampling.numbered(index)
  }

  /// The completions of `prompts` (each at least one token, shorter than the context), the
  /// `i`-th numbered `firstIndex + i` for its seed. A completion ends after a stop token (which
  /// it keeps) or at the budget.
  public func complete(_ prompts: [[Int32]], model: Llama, firstIndex: Int) -> [[Int32]] {
    let context = model.config.maxPositions
    var caches: [KVCache] = []
    var samplers: [Sampler] = []
    var budgets: [Int] = []
    var last: [Int32] = []
    for (i, prompt) in prompts.enumerated() {
      precondition(
        !prompt.isEmpty && prompt.count < context,
        "RolloutSampler: a prompt of \(prompt.count) tokens for a context of \(context)")
      let budget = min(maxNewTokens, context - prompt.count)
      let cache = model.makeCache(capacity: prompt.count + budget)
      // The last prompt token goes through the first decoding step with the others.
      if prompt.count > 1 { _ = model.hiddenStates(Array(prompt.dropLast()), cache: cache) }
      caches.append(cache)
      samplers.append(Sampler(sampling(forSequence: firstIndex + i)))
      budgets.append(budget)
      last.append(prompt[prompt.count - 1])
    }
    var completions = [[Int32]](repeating: [], count: prompts.count)
    var active = Array(prompts.indices)
    while !active.isEmpty {
      let logits = model.decodeStep(active.map { last[$0] }, caches: active.map { caches[$0] })
      var still: [Int] = []
      for (row, i) in active.enumerated() {
        let token = samplers[i].next(
          logits: logits[row: row].scalars, history: prompts[i] + completions[i])
        completions[i].append(token)
        last[i] = token
        if !stopTokens.contains(token) && completions[i].count < budgets[i] { still.append(i) }
      }
      active = still
    }
    return completions
  }
}
