/// A source of training batches whose position can be saved in a checkpoint and restored, so a
/// resumed run sees exactly the batches it would have seen.
public protocol DataLoader {
  /// What one call produces (one micro-batch).
  associatedtype Batch
  /// Everything needed to continue from the current position (stored in `trainer_state.json`).
  associatedtype Cursor: Codable, Sendable, Equatable

  /// The next micro-batch, starting a new epoch when the current one is used up.
  mutating func next() throws -> Batch
  /// The position after the last batch returned.
  var cursor: Cursor { get }
  /// Continues from a saved position.
  /// - Throws: when `cursor` does not fit this loader's data (e.g. another data set).
  mutating func restore(_ cursor: Cursor) throws
  /// Passes over the data started so far, minus one (0 during the first).
  var epoch: Int { get }
}

/// A data loader's saved position that cannot be used with this data.
public struct DataLoaderError: Error, CustomStringConvertible {
  /// What does not fit.
  public let description: String
  /// An error with `description`.
  public init(_ description: String) { self.description = description }
}
