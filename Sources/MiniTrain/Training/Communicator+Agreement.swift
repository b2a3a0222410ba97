import MiniAutograd

extension Communicator {
  /// Runs `body` on every rank and agrees on the outcome, so that no rank goes on to wait in a
  /// collective for one that failed: when `body` throws on any rank it throws on every rank.
  /// Rank 0 throws its own error; another rank throws its error as ``TrainingRunError/rank(_:_:)``
  /// only when rank 0 succeeded; the others throw ``TrainingRunError/otherProcessFailed`` (to be
  /// ended silently).
  public func agree<T>(_ body: () throws -> T) throws -> T {
    guard worldSize > 1 else { return try body() }
    let outcome = Result { try body() }
    var failed = false
    if case .failure = outcome { failed = true }
    let failure: Double = failed ? 1 : 0
    let sums = try allReduceSum([failure, rank == 0 ? failure : 0])
    switch outcome {
    case .success(let value):
      guard sums[0] == 0 else { throw TrainingRunError.otherProcessFailed }
      return value
    case .failure(let error):
      if rank == 0 { throw error }
      if sums[1] > 0 || error as? TrainingRunError == .otherProcessFailed {
        throw TrainingRunError.otherProcessFailed
      }
      throw TrainingRunError.rank(rank, "\(error)")
    }
  }

  /// This rank's share of `batches` (dealt round-robin), so that the held-out loss summed over
  /// ranks is that of all of them.
  public func share<Batch>(of batches: [Batch]) -> [Batch] {
    stride(from: rank, to: batches.count, by: worldSize).map { batches[$0] }
  }

  /// The names every rank reports, in order: the first rank holding any names passes them to
  /// the others (a rank with nothing to evaluate has none of its own).
  /// - Throws: ``TrainingRunError/rank(_:_:)`` on every rank when two ranks hold different
  ///   non-empty lists.
  public func agreedNames(_ names: [String]) throws -> [String] {
    guard worldSize > 1 else { return names }
    let bytes = Array(names.joined(separator: "\n").utf8)
    var lengths = [Double](repeating: 0, count: worldSize)
    lengths[rank] = Double(bytes.count) + (names.isEmpty ? 0 : 1)
    let all = try allReduceSum(lengths)
    guard let source = all.firstIndex(where: { $0 > 0 }) else { return [] }
    var buffer = [Double](repeating: 0, count: Int(all[source]) - 1)
    if rank == source { for (i, byte) in bytes.enumerated() { buffer[i] = Double(byte) } }
    let text = String(decoding: try allReduceSum(buffer).map { UInt8($0) }, as: UTF8.self)
    let agreed = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let differs: Double = !names.isEmpty && names != agreed ? 1 : 0
    var votes = [Double](repeating: 0, count: worldSize)
    votes[rank] = differs
    if let other = try allReduceSum(votes).firstIndex(where: { $0 > 0 }) {
      throw TrainingRunError.rank(
        other, "reports the figures \(names) where rank \(source) reports \(agreed)")
    }
    return agreed
  }

  /// Checks that every rank holds the same weights (bit for bit): every rank contributes a
  /// checksum of its arena and all compare them.
  /// - Throws: ``TrainingRunError/weightsDiffer(_:)`` on every rank when they differ.
  public func expectSameWeights(_ arena: ParameterArena) throws {
    guard worldSize > 1 else { return }
    let sum = arena.values.withUnsafeBufferPointer { values in
      values.withMemoryRebound(to: UInt32.self) { bits in
        // Two 32-bit FNV-1a-style hashes, each exact in a Double.
        var (a, b): (UInt32, UInt32) = (2_166_136_261, 5381)
        for word in bits {
          a = (a ^ word) &* 16_777_619
          b = (b &<< 5) &+ b &+ word
        }
        return (a, b)
      }
    }
    var slots = [Double](repeating: 0, count: 2 * worldSize)
    slots[2 * rank] = Double(sum.0)
    slots[2 * rank + 1] = Double(sum.1)
    let all = try allReduceSum(slots)
    let differing = (1..<worldSize).filter {
      all[2 * $0] != all[0] || all[2 * $0 + 1] != all[1]
    }
    if !differing.isEmpty { throw TrainingRunError.weightsDiffer(differing) }
  }
}
