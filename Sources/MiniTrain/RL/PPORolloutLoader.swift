import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize

/// Micro-batches of PPO rollouts as TRL's `PPOTrainer` uses them: a rollout batch of
/// `rolloutSize` completions (one per prompt, prompts in a fresh permutation per pass from the
/// seed) is sampled from the current policy and scored by the reward function; the sampling
/// policy's log-probabilities and values and the reference's log-probabilities give per-token
/// rewards, advantages and returns (``PPOLoss``); the batch then serves `epochs` passes, each
/// in a fresh order of its completions, `microBatchSize` completions at a time.
///
/// The cursor holds the count of micro-batches made, the KL coefficient, and the rollout batch
/// in use, so a resumed run trains on exactly the rollouts the uninterrupted run trains on.
public struct PPORolloutLoader: DataLoader {
  /// The position.
  public struct Cursor: Codable, Sendable, Equatable {
    /// Micro-batches made so far.
    public var batches: Int
    /// The KL coefficient of the next rollout batch.
    public var klCoefficient: Double
    /// The rollout batch in use (`nil` between rollout batches).
    public var rollout: [PPORolloutRow]?

    enum CodingKeys: String, CodingKey {
      case batches, rollout
      case klCoefficient = "kl_coef"
    }
  }

  /// The policy sampled (the model being trained).
  public let policy: PPOPolicy
  /// The frozen reference.
  public let reference: Llama
  /// The prompts and their rendered ids.
  public let prompts: [(record: PromptRecord, ids: [Int32])]
  /// Decodes completions for the reward function.
  public let tokenizer: any Tokenizer
  /// Samples completions.
  public let sampler: RolloutSampler
  /// Scores completions.
  public let reward: any RewardFunction
  /// The loss, for the rewards, advantages and returns.
  public let criterion: PPOLoss
  /// This process's completions per rollout batch.
  public let rolloutSize: Int
  /// Completions per micro-batch.
  public let microBatchSize: Int
  /// Passes over each rollout batch (`num_ppo_epochs`).
  public let epochs: Int
  /// Logits are divided by it for the log-probabilities (the sampling temperature).
  public let temperature: Float
  /// Sums the KL statistic over ranks (adaptive KL under several processes).
  public var communicator: (any Communicator)?
  /// Padding id.
  public let padding: Int32
  /// Seed of the prompt and mini-batch orders.
  public let seed: UInt64
  /// This process's rank and the number of processes.
  public let rank: Int
  public let worldSize: Int
  private var made = 0
  private var klCoefficient: Double
  private var rollout: [PPORolloutRow]?
  private var order: (epoch: Int, indices: [Int])?

  /// A loader; see the type's description.
  /// - Precondition: `rolloutSize` is a multiple of `microBatchSize`.
  public init(
    policy: PPOPolicy, reference: Llama, prompts: [(record: PromptRecord, ids: [Int32])],
    tokenizer: any Tokenizer, sampler: RolloutSampler, reward: any RewardFunction,
    criterion: PPOLoss, rolloutSize: Int, microBatchSize: Int, epochs: Int, temperature: Float,
    padding: Int32, seed: UInt64, rank: Int, worldSize: Int
  ) {
    precondition(
      microBatchSize > 0 && rolloutSize % microBatchSize == 0 && epochs > 0,
      "PPORolloutLoader: rollout \(rolloutSize), micro-batch \(microBatchSize)")
    self.policy = policy
    self.reference = reference
    self.prompts = prompts
    self.tokenizer = tokenizer
    self.sampler = sampler
    self.reward = reward
    self.criterion = criterion
    self.rolloutSize = rolloutSize
    self.microBatchSize = microBatchSize
    self.epochs = epochs
    self.temperature = temperature
    self.padding = padding
    self.seed = seed
    self.rank = rank
    self.worldSize = worldSize
    klCoefficient = criterion.klCoefficient
  }

  /// Micro-batches made from each rollout batch.
  public var microBatchesPerRollout: Int { epochs * rolloutSize / microBatchSize }

  public var cursor: Cursor {
    Cursor(
      batches: made, klCoefficient: klCoefficient,
      rollout: made % microBatchesPerRollout == 0 ? nil : rollout)
  }

  public mutating func restore(_ cursor: Cursor) throws {
    guard cursor.batches >= 0 else { throw DataLoaderError("negative rollout count") }
    guard (cursor.batches % microBatchesPerRollout == 0) == (cursor.rollout == nil),
      cursor.rollout.map({ $0.count == rolloutSize }) ?? true
    else {
      throw DataLoaderError(
        "the saved rollout batch does not fit \(rolloutSize) completions per rollout batch")
    }
    made = cursor.batches
    klCoefficient = cursor.klCoefficient
    rollout = cursor.rollout
  }

  public var epoch: Int {
    (made / microBatchesPerRollout) * rolloutSize * worldSize / prompts.count
  }

  /// The prompt of global draw `draw`: position `draw mod count` of pass `draw / count`'s
  /// permutation.
  mutating func promptIndex(draw: Int) -> Int {
    let count = prompts.count
    let pass = draw / count
    if let order, order.epoch == pass { return order.indices[draw % count] }
    var rng = PhiloxRNG(seed: seed, stream: 0x5050_4F00 + UInt64(pass))
    let permutation = Self.permutation(count, using: &rng)
    order = (pass, permutation)
    return permutation[draw % count]
  }

  static func permutation(_ count: Int, using rng: inout PhiloxRNG) -> [Int] {
    var permutation = Array(0..<count)
    for i in stride(from: count - 1, to: 0, by: -1) {
      let j = Int(rng.nextUniform() * Float(i + 1)) % (i + 1)
      permutation.swapAt(i, j)
    }
    return permutation
  }

  public mutating func next() throws -> PPOBatch {
    let index = made / microBatchesPerRollout
    let position = made % microBatchesPerRollout
    if position == 0 || rollout == nil { rollout = try makeRollout(index) }
    made += 1
    let perEpoch = rolloutSize / microBatchSize
    let epoch = position / perEpoch
    // The order of the rollout's completions in this epoch (TRL's `b_inds`).
    var rng = PhiloxRNG(
      seed: seed, stream: 0x5050_4F45_0000_0000 + UInt64(index) << 16 + UInt64(epoch))
    let permutation = Self.permutation(rolloutSize, using: &rng)
    let chunk = position % perEpoch
    let rows = permutation[(chunk * microBatchSize)..<((chunk + 1) * microBatchSize)].map {
      rollout![$0]
    }
    return PPOBatch(rows, padding: padding)
  }

  /// Samples, scores and evaluates rollout batch `index`, then adapts the KL coefficient.
  mutating func makeRollout(_ index: Int) throws -> [PPORolloutRow] {
    let first = (index * worldSize + rank) * rolloutSize
    var promptIDs: [[Int32]] = []
    var records: [PromptRecord] = []
    for k in 0..<rolloutSize {
      let prompt = prompts[promptIndex(draw: first + k)]
      promptIDs.append(prompt.ids)
      records.append(prompt.record)
    }
    let completions = sampler.complete(promptIDs, model: policy.model, firstIndex: first)
    let scores = try reward.score(
      completions, of: promptIDs, records: records, stopTokens: sampler.stopTokens,
      tokenizer: tokenizer)

    // The sampling policy's and the reference's figures, in TRL's [rows, width] layout.
    let lengths = completions.map(\.count)
    let width = lengths.max()!
    var logp = [Double](repeating: 0, count: rolloutSize * width)
    var ref = logp
    var values = logp
    var valueCounts: [Int] = []
    var placeholders: [PPORolloutRow] = []
    for r in 0..<rolloutSize {
      let count = lengths[r] < width ? lengths[r] + 1 : lengths[r]
      valueCounts.append(count)
      placeholders.append(
        PPORolloutRow(
          prompt: promptIDs[r], completion: completions[r],
          logProbabilities: [Float](repeating: 0, count: lengths[r]),
          advantages: [Float](repeating: 0, count: lengths[r]),
          values: [Float](repeating: 0, count: count), returns: [Float](repeating: 0, count: count),
          score: scores[r], kl: 0, klCoefficient: klCoefficient))
    }
    for start in stride(from: 0, to: rolloutSize, by: microBatchSize) {
      let chunk = Array(placeholders[start..<(start + microBatchSize)])
      let batch = PPOBatch(chunk, padding: padding)
      let (logits, predicted) = policy(batch.tokens, rows: batch.rows, temperature: temperature)
      let own = tokenLogProbabilities(
        logits: logits, targets: batch.targets, ignoreIndex: GRPOBatch.ignoreIndex
      ).value.scalars
      let referenceLogits = reference(batch.tokens, batch: batch.rows).reshaped([
        batch.rows * batch.width, reference.config.vocabSize,
      ])
      let theirs = tokenLogProbabilities(
        logits: temperature == 1 ? referenceLogits : referenceLogits * (1 / temperature),
        targets: batch.targets, ignoreIndex: GRPOBatch.ignoreIndex
      ).value.scalars
      let v = predicted.value.scalars
      for (k, row) in chunk.enumerated() {
        let r = start + k
        let base = k * batch.width + row.prompt.count - 1
        for t in 0..<lengths[r] {
          logp[r * width + t] = Double(own[base + t])
          ref[r * width + t] = Double(theirs[base + t])
        }
        for t in 0..<valueCounts[r] { values[r * width + t] = Double(v[base + t]) }
      }
    }
    let (rewards, kl) = criterion.tokenRewards(
      scores: scores, logProbabilities: logp, reference: ref, lengths: lengths, width: width,
      klCoefficient: klCoefficient)
    let (advantages, returns) = criterion.advantagesAndReturns(
      rewards: rewards, values: values, lengths: lengths, width: width)
    var rows = placeholders
    var klTotal = 0.0
    for r in 0..<rolloutSize {
      let base = r * width
      rows[r].logProbabilities = (0..<lengths[r]).map { Float(logp[base + $0]) }
      rows[r].advantages = (0..<lengths[r]).map { Float(advantages[base + $0]) }
      rows[r].values = (0..<valueCounts[r]).map { Float(values[base + $0]) }
      rows[r].returns = (0..<valueCounts[r]).map { Float(returns[base + $0]) }
      rows[r].kl = (0..<lengths[r]).reduce(0) { $0 + kl[base + $1] }
      klTotal += rows[r].kl
    }
    if let adaptive = criterion.adaptiveKL {
      // The mean over every rank's completions, so the coefficient stays the same on all.
      if let communicator, worldSize > 1 {
        klTotal = try communicator.allReduceSum([klTotal])[0]
      }
      klCoefficient = adaptive.updated(
        klCoefficient, kl: klTotal / Double(rolloutSize * worldSize),
        completions: rolloutSize * worldSize)
    }
    return rows
  }
}
