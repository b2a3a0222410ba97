import MiniLlama
import MiniTensor
import MiniTokenize

/// Batches of GRPO rollouts, made from the current policy when asked: each call draws
/// `promptsPerBatch` prompts (a fresh permutation per epoch from the seed), samples `groupSize`
/// completions of each with the ``RolloutSampler``, scores them with the reward function,
/// normalises the rewards within each group and adds the reference's log-probabilities.
///
/// With `iterations` > 1 (TRL's `num_iterations`), the micro-batches of one optimizer step
/// are sampled once, with the sampling policy's log-probabilities as the loss's old ones, and
/// served again, in the same order, for the next `iterations − 1` steps.
///
/// The cursor is the number of calls so far (and the step's rollouts while they are still to
/// be served again): prompt order and every sampling seed follow from it and the seed, so a
/// resumed run draws exactly the rollouts it would have drawn.
public struct GRPORolloutLoader: DataLoader {
  /// The position: calls so far (on every rank alike).
  public struct Cursor: Codable, Sendable, Equatable {
    /// Micro-batches served so far.
    public var batches: Int
    /// The current step's rollouts while later iterations still use them.
    public var rollouts: [GRPOBatch]?
  }

  /// The policy sampled (the model being trained).
  public let policy: Llama
  /// The frozen reference (`nil` without a KL term).
  public let reference: Llama?
  /// The prompts and their rendered ids.
  public let prompts: [(record: PromptRecord, ids: [Int32])]
  /// Decodes completions for the reward function.
  public let tokenizer: any Tokenizer
  /// Samples completions.
  public let sampler: RolloutSampler
  /// Scores completions.
  public let reward: any RewardFunction
  /// Completions per prompt.
  public let groupSize: Int
  /// Prompts per micro-batch.
  public let promptsPerBatch: Int
  /// Logits are divided by it for the log-probabilities (the sampling temperature).
  public let temperature: Float
  /// Padding id.
  public let padding: Int32
  /// Seed of the prompt order.
  public let seed: UInt64
  /// This process's rank and the number of processes.
  public let rank: Int
  public let worldSize: Int
  /// Micro-batches per optimizer step on this process.
  public let microBatchesPerStep: Int
  /// Optimizer steps on each step's rollouts (`num_iterations`).
  public let iterations: Int
  private var made = 0
  private var rollouts: [GRPOBatch] = []
  /// The permutation of the epoch drawn last.
  private var order: (epoch: Int, indices: [Int])?

  /// A loader; see the type's description.
  public init(
    policy: Llama, reference: Llama?, prompts: [(record: PromptRecord, ids: [Int32])],
    tokenizer: any Tokenizer, sampler: RolloutSampler, reward: any RewardFunction,
    groupSize: Int, promptsPerBatch: Int, temperature: Float, padding: Int32, seed: UInt64,
    rank: Int = 0, worldSize: Int = 1, microBatchesPerStep: Int = 1, iterations: Int = 1
  ) {
    precondition(
      !prompts.isEmpty && groupSize > 0 && promptsPerBatch > 0 && microBatchesPerStep > 0
        && iterations > 0)
    self.microBatchesPerStep = microBatchesPerStep
    self.iterations = iterations
    self.policy = policy
    self.reference = reference
    self.prompts = prompts
    self.tokenizer = tokenizer
    self.sampler = sampler
    self.reward = reward
    self.groupSize = groupSize
    self.promptsPerBatch = promptsPerBatch
    self.temperature = temperature
    self.padding = padding
    self.seed = seed
    self.rank = rank
    self.worldSize = worldSize
  }

  /// Whether the next call serves a stored rollout again.
  private func reuses(at served: Int) -> Bool { (served / microBatchesPerStep) % iterations != 0 }

  public var cursor: Cursor {
    Cursor(batches: made, rollouts: reuses(at: made) ? rollouts : nil)
  }

  public mutating func restore(_ cursor: Cursor) throws {
    guard cursor.batches >= 0 else { throw DataLoaderError("negative rollout count") }
    guard reuses(at: cursor.batches) == (cursor.rollouts != nil),
      cursor.rollouts.map({ $0.count == microBatchesPerStep }) ?? true
    else {
      throw DataLoaderError(
        "the saved rollouts do not fit \(iterations) iterations of \(microBatchesPerStep) "
          + "micro-batches per step")
    }
    made = cursor.batches
    rollouts = cursor.rollouts ?? []
  }

  /// Rollout micro-batches sampled before call `served`.
  private func sampled(before served: Int) -> Int {
    let step = served / microBatchesPerStep
    let within = served % microBatchesPerStep
    return (step / iterations) * microBatchesPerStep
      + (step % iterations == 0 ? within : microBatchesPerStep)
  }

  public var epoch: Int { sampled(before: made) * promptsPerBatch * worldSize / prompts.count }

  /// The prompt of global draw `draw`: position `draw mod count` of epoch `draw / count`'s
  /// permutation.
  mutating func promptIndex(draw: Int) -> Int {
    let count = prompts.count
    let epoch = draw / count
    if let order, order.epoch == epoch { return order.indices[draw % count] }
    var rng = PhiloxRNG(seed: seed, stream: 0x4752_504F + UInt64(epoch))
    let permutation = PPORolloutLoader.permutation(count, using: &rng)
    order = (epoch, permutation)
    return permutation[draw % count]
  }

  public mutating func next() throws -> GRPOBatch {
    let within = made % microBatchesPerStep
    if reuses(at: made) {
      made += 1
      return rollouts[within]
    }
    let first = (sampled(before: made) * worldSize + rank) * promptsPerBatch
    made += 1
    var batch = try sample(first: first)
    if iterations > 1 {
      // The sampling policy's log-probabilities, for the ratio of later iterations.
      batch.old =
        policy.completionLogProbabilities(batch, temperature: temperature)
        .logProbabilities.value.scalars
      if within == 0 { rollouts = [] }
      rollouts.append(batch)
    }
    return batch
  }

  /// Samples, scores and normalises the groups of the prompts from global draw `first` on.
  mutating func sample(first: Int) throws -> GRPOBatch {
    var promptIDs: [[Int32]] = []
    var records: [PromptRecord] = []
    for k in 0..<promptsPerBatch {
      let prompt = prompts[promptIndex(draw: first + k)]
      for _ in 0..<groupSize {
        promptIDs.append(prompt.ids)
        records.append(prompt.record)
      }
    }
    let completions = sampler.complete(
      promptIDs, model: policy, firstIndex: first * groupSize)
    let rewards = try reward.score(
      completions, of: promptIDs, records: records, stopTokens: sampler.stopTokens,
      tokenizer: tokenizer)
    let advantages = GRPOLoss.advantages(rewards: rewards, groupSize: groupSize)
    var batch = GRPOBatch(
      prompts: promptIDs, completions: completions, rewards: rewards, advantages: advantages,
      padding: padding)
    if let reference {
      batch.reference =
        reference.completionLogProbabilities(batch, temperature: temperature)
        .logProbabilities.value.scalars
    }
    return batch
  }
}
