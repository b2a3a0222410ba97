import MiniAutograd

/// The collective operations data-parallel training needs; ``SingleProcessCommunicator`` (one
/// rank, every operation a no-op) is the default, and an MPI implementation plugs in for
/// `mpirun -np N`.
///
/// Every rank calls the same operations in the same order. The trainer sums the gradient arena
/// and the step's scalar figures over ranks, so every rank takes the same decisions (skip,
/// clip, stop) and applies the same update.
public protocol Communicator: AnyObject {
  /// This process's index, `0..<worldSize`.
  var rank: Int { get }
  /// Number of processes.
  var worldSize: Int { get }
  /// Replaces `buffer` on every rank by the element-wise sum over ranks.
  func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws
  /// The element-wise sum of `values` over ranks.
  func allReduceSum(_ values: [Double]) throws -> [Double]
  /// Returns once every rank has called it.
  func barrier() throws
}

extension Communicator {
  /// Whether this rank writes files (metrics, checkpoints, the final model).
  public var isPrimary: Bool { rank == 0 }

  /// Sums the gradients of `arena` over ranks.
  public func allReduceGradients(_ arena: ParameterArena) throws {
    guard worldSize > 1 else { return }
    try arena.withUnsafeMutableBuffers { buffers in
      try allReduceSum(buffers.gradients)
    }
  }
}

/// One process: the sums are the values themselves.
public final class SingleProcessCommunicator: Communicator {
  /// A communicator of one rank.
  public init() {}
  /// 0.
  public var rank: Int { 0 }
  /// 1.
  public var worldSize: Int { 1 }
  /// Leaves `buffer` as it is.
  public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) {}
  /// Returns `values`.
  public func allReduceSum(_ values: [Double]) -> [Double] { values }
  /// Returns at once.
  public func barrier() {}
}
