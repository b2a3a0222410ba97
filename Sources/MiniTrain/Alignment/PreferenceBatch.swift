import MiniTokenize

/// A micro-batch of preference pairs as two blocks of right-padded rows: rows `0 ..< pairCount`
/// hold each pair's prompt followed by its chosen reply, rows `pairCount ..< 2·pairCount` the
/// same prompt followed by the rejected reply.
///
/// Position `t` of a row predicts token `t + 1`; only answer tokens (every reply token,
/// including the end-of-turn token that closes it) are targets, so the sum of a row's target
/// log-probabilities is the reply's log-likelihood given the prompt. The last non-pad position
/// of a row (its end token) is where a reward model reads its score.
public struct PreferenceBatch: Sendable, Equatable {
  /// Pairs in the batch (`P`).
  public let pairCount: Int
  /// Positions per row (`T`): the longest row of the batch.
  public let sequenceLength: Int
  /// `2P × T` input ids, row-major, padded with ``padID``.
  public let tokens: [Int32]
  /// `2P × T` targets: the next token where it is an answer token, else `ignoreIndex`.
  public let targets: [Int32]
  /// Non-pad tokens per row (prompt plus reply).
  public let lengths: [Int]
  /// Prompt tokens per row (the same for a pair's two rows).
  public let promptLengths: [Int]
  /// The data set index of each pair (keys of a reference log-probability cache).
  public let pairIndices: [Int]
  /// The id placed after each row's end.
  public let padID: Int32
  /// The target of positions that are not scored.
  public static let ignoreIndex: Int32 = -100

  /// A batch of `samples` (pair `i` being data set pair `pairIndices[i]`).
  /// - Precondition: at least one sample, one index per sample, every prompt and reply
  ///   non-empty.
  public init(samples: [PreferenceSample], pairIndices: [Int], padID: Int32 = 0) {
    precondition(
      !samples.isEmpty && samples.count == pairIndices.count,
      "PreferenceBatch: \(samples.count) samples with \(pairIndices.count) pair indices")
    let pairCount = samples.count
    var rows: [(prompt: [Int32], answer: [Int32])] = []
    rows.reserveCapacity(2 * pairCount)
    for sample in samples { rows.append((sample.promptIDs, sample.chosenIDs)) }
    for sample in samples { rows.append((sample.promptIDs, sample.rejectedIDs)) }
    for (index, row) in rows.enumerated() {
      precondition(
        !row.prompt.isEmpty && !row.answer.isEmpty,
        "PreferenceBatch: row \(index) has a prompt of \(row.prompt.count) and a reply of "
          + "\(row.answer.count) tokens")
    }
    let width = rows.map { $0.prompt.count + $0.answer.count }.max()!
    var tokens = [Int32](repeating: padID, count: rows.count * width)
    var targets = [Int32](repeating: Self.ignoreIndex, count: rows.count * width)
    for (r, row) in rows.enumerated() {
      let base = r * width
      for (t, id) in row.prompt.enumerated() { tokens[base + t] = id }
      for (j, id) in row.answer.enumerated() {
        let position = row.prompt.count + j
        tokens[base + position] = id
        targets[base + position - 1] = id
      }
    }
    self.pairCount = pairCount
    self.sequenceLength = width
    self.tokens = tokens
    self.targets = targets
    self.lengths = rows.map { $0.prompt.count + $0.answer.count }
    self.promptLengths = rows.map(\.prompt.count)
    self.pairIndices = pairIndices
    self.padID = padID
  }

  /// Rows (`2P`).
  public var rows: Int { 2 * pairCount }

  /// Reply tokens per row (the number of targets of each row).
  public var answerLengths: [Int] { zip(lengths, promptLengths).map { $0 - $1 } }

  /// Non-pad tokens of the batch.
  public var tokenCount: Int { lengths.reduce(0, +) }

  /// The flat position (`row · T + t`) of each row's last non-pad token.
  public var lastTokenPositions: [Int32] {
    lengths.enumerated().map { Int32($0.offset * sequenceLength + $0.element - 1) }
  }
}
