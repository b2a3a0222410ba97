import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor

/// The frozen reference model's reply log-likelihoods, computed once per pair and kept by data
/// set pair index, so DPO runs only the policy at every step (a third less work per step).
///
/// Stored as a safetensors file (`chosen` and `rejected`, `F32 [pairs]`, NaN for pairs not
/// computed) whose metadata carries an identity (what data and reference model produced it), so
/// a resumed run reads back exactly the values it trained with instead of computing them again,
/// and refuses a file made for something else.
public struct ReferenceLogProbabilities: Sendable, Equatable {
  /// Summed chosen-reply log-likelihood by data set pair index (NaN: not computed).
  public private(set) var chosen: [Float]
  /// Summed rejected-reply log-likelihood by data set pair index (NaN: not computed).
  public private(set) var rejected: [Float]
  /// What the values were computed from (stored as the file's metadata).
  public var identity: [String: String]

  /// An empty cache for a data set of `pairCount` pairs.
  public init(pairCount: Int, identity: [String: String] = [:]) {
    precondition(pairCount >= 0, "ReferenceLogProbabilities: \(pairCount) pairs")
    chosen = Array(repeating: .nan, count: pairCount)
    rejected = chosen
    self.identity = identity
  }

  /// Pairs of the data set.
  public var pairCount: Int { chosen.count }

  /// Pairs whose values are present.
  public var computedCount: Int { zip(chosen, rejected).filter { !$0.isNaN && !$1.isNaN }.count }

  /// The values of data set pair `pair`, or `nil` when not computed.
  public subscript(pair: Int) -> (chosen: Float, rejected: Float)? {
    precondition(pair >= 0 && pair < pairCount, "ReferenceLogProbabilities: pair \(pair)")
    return chosen[pair].isNaN || rejected[pair].isNaN ? nil : (chosen[pair], rejected[pair])
  }

  /// Records the reference's summed log-likelihoods `scores` (`[2P]`, chosen rows first) of
  /// `batch`.
  public mutating func record(_ batch: PreferenceBatch, scores: [Float]) {
    precondition(
      scores.count == batch.rows,
      "ReferenceLogProbabilities: \(scores.count) scores for a batch of \(batch.rows) rows")
    for (p, pair) in batch.pairIndices.enumerated() {
      precondition(pair < pairCount, "ReferenceLogProbabilities: pair \(pair) of \(pairCount)")
      chosen[pair] = scores[p]
      rejected[pair] = scores[batch.pairCount + p]
    }
  }

  /// The values of `batch`'s rows (`[2P]`, chosen rows first).
  /// - Throws: ``DataLoaderError`` when a pair was not computed.
  public func scores(for batch: PreferenceBatch) throws -> [Float] {
    var result = [Float](repeating: 0, count: batch.rows)
    for (p, pair) in batch.pairIndices.enumerated() {
      guard pair < pairCount, let values = self[pair] else {
        throw DataLoaderError(
          "no reference log-probabilities for pair \(pair) (the cache holds \(computedCount) "
            + "of \(pairCount) pairs)")
      }
      result[p] = values.chosen
      result[batch.pairCount + p] = values.rejected
    }
    return result
  }

  /// Computes the values of every pair of `pairs` with `model` (no tape), in batches of
  /// `batchSize` pairs of similar lengths.
  /// - Parameter progress: called after each batch with the pairs done and the total.
  public static func compute(
    model: Llama, pairs: PreferencePairs, batchSize: Int, identity: [String: String] = [:],
    progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
  ) -> ReferenceLogProbabilities {
    precondition(batchSize > 0, "ReferenceLogProbabilities.compute: batch size \(batchSize)")
    var result = ReferenceLogProbabilities(pairCount: pairs.dataset.count, identity: identity)
    let lengths = (0..<pairs.count).map { pairs.length(of: $0) }
    let byLength = (0..<pairs.count).sorted { a, b in
      lengths[a] != lengths[b] ? lengths[a] < lengths[b] : a < b
    }
    var start = 0
    while start < byLength.count {
      let end = min(byLength.count, start + batchSize)
      let batch = pairs.batch(byLength[start..<end])
      result.record(batch, scores: model.answerLogProbabilities(batch).value.scalars)
      start = end
      progress(end, byLength.count)
    }
    return result
  }

  /// ``compute(model:pairs:batchSize:identity:progress:)`` shared by the ranks of
  /// `communicator`: the same batches, dealt round-robin, each computed by one rank, and the
  /// values summed over ranks, so every rank holds the values one process would compute.
  /// - Parameter progress: called after each of this rank's batches with the pairs this rank
  ///   has done and its total.
  public static func compute(
    model: Llama, pairs: PreferencePairs, batchSize: Int, identity: [String: String] = [:],
    communicator: any Communicator,
    progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
  ) throws -> ReferenceLogProbabilities {
    precondition(batchSize > 0, "ReferenceLogProbabilities.compute: batch size \(batchSize)")
    let (rank, ranks) = (communicator.rank, communicator.worldSize)
    let lengths = (0..<pairs.count).map { pairs.length(of: $0) }
    let byLength = (0..<pairs.count).sorted { a, b in
      lengths[a] != lengths[b] ? lengths[a] < lengths[b] : a < b
    }
    let starts = Array(stride(from: 0, to: byLength.count, by: batchSize))
    let mine = stride(from: rank, to: starts.count, by: ranks).map { starts[$0] }
    let total = mine.map { min(byLength.count, $0 + batchSize) - $0 }.reduce(0, +)
    let count = pairs.dataset.count
    // chosen, rejected, and 1 where this rank computed the pair.
    var values = [Float](repeating: 0, count: 3 * count)
    var done = 0
    for start in mine {
      let end = min(byLength.count, start + batchSize)
      let batch = pairs.batch(byLength[start..<end])
      let scores = model.answerLogProbabilities(batch).value.scalars
      for (p, pair) in batch.pairIndices.enumerated() {
        values[pair] = scores[p]
        values[count + pair] = scores[batch.pairCount + p]
        values[2 * count + pair] = 1
      }
      done += end - start
      progress(done, total)
    }
    if ranks > 1 { try values.withUnsafeMutableBufferPointer { try communicator.allReduceSum($0) } }
    var result = ReferenceLogProbabilities(pairCount: count, identity: identity)
    for pair in 0..<count where values[2 * count + pair] > 0 {
      result.chosen[pair] = values[pair]
      result.rejected[pair] = values[count + pair]
    }
    return result
  }

  static let format = "minillm-reference-logps"

  /// Writes the values and identity to `path` atomically.
  /// - Throws: `SafeTensorsError` naming the file.
  public func write(to path: String) throws {
    var metadata = identity
    metadata["format"] = Self.format
    try SafeTensors.write(
      [
        SafeTensorsEntry("chosen", Tensor(chosen, shape: [pairCount])),
        SafeTensorsEntry("rejected", Tensor(rejected, shape: [pairCount])),
      ], metadata: metadata, to: path)
  }

  /// Reads a file written by ``write(to:)``.
  /// - Throws: `SafeTensorsError`, or ``CheckpointError`` naming the file when it is not such
  ///   a file.
  public init(contentsOf path: String) throws {
    let file = try SafeTensorsFile(path: path)
    guard file.metadata["format"] == Self.format,
      let chosenInfo = file.info(named: "chosen"), let rejectedInfo = file.info(named: "rejected"),
      chosenInfo.shape.count == 1, chosenInfo.shape == rejectedInfo.shape
    else {
      throw CheckpointError(
        path: path, "not a reference log-probability file (format \(Self.format))")
    }
    chosen = try file.tensor(named: "chosen").scalars
    rejected = try file.tensor(named: "rejected").scalars
    var identity = file.metadata
    identity.removeValue(forKey: "format")
    self.identity = identity
  }
}
