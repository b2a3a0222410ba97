/// `rows` windows of `sequenceLength + 1` consecutive tokens, row-major: position `t` of a row
/// is an input whose target is position `t + 1`.
public struct TokenBatch: Sendable, Equatable {
  /// `rows × (sequenceLength + 1)` ids.
  public var tokens: [Int32]
  /// Number of windows.
  public var rows: Int
  /// Inputs (and targets) per row.
  public var sequenceLength: Int

  /// A batch of `rows` windows.
  /// - Precondition: `tokens.count == rows * (sequenceLength + 1)`.
  public init(tokens: [Int32], rows: Int, sequenceLength: Int) {
    precondition(
      rows > 0 && sequenceLength > 0 && tokens.count == rows * (sequenceLength + 1),
      "TokenBatch: \(tokens.count) tokens for \(rows) rows of \(sequenceLength) + 1")
    self.tokens = tokens
    self.rows = rows
    self.sequenceLength = sequenceLength
  }

  /// The first `sequenceLength` tokens of each row, `rows × sequenceLength`.
  public var inputs: [Int32] { rowSlices(from: 0) }

  /// The last `sequenceLength` tokens of each row (each input's next token).
  public var targets: [Int32] { rowSlices(from: 1) }

  /// Number of predicted tokens.
  public var targetCount: Int { rows * sequenceLength }

  private func rowSlices(from start: Int) -> [Int32] {
    let width = sequenceLength + 1
    var result: [Int32] = []
    result.reserveCapacity(rows * sequenceLength)
    for row in 0..<rows {
      result.append(
        contentsOf: tokens[(row * width + start)..<(row * width + start + sequenceLength)])
    }
    return result
  }
}
