internal import CMPI
import MiniTrain

#if canImport(Glibc)
  import Glibc
#endif

/// Data-parallel training over MPI: the ``Communicator`` of a process started by `mpirun`.
///
/// ```swift
/// let communicator: any Communicator =
///   MPICommunicator.launchedByMPIRun(environment: ProcessInfo.processInfo.environment)
///   ? try MPICommunicator() : SingleProcessCommunicator()
/// let trainer = Trainer(…, communicator: communicator)
/// ```
///
/// The first communicator of a process joins the MPI job (`MPI_Init_thread` with
/// `MPI_THREAD_SERIALIZED`, unless the program initialised MPI itself); the job is finalised
/// when the process exits, so a communicator may be created, dropped and created again, and
/// several share one job. MPI is told to return error codes instead of aborting; every failed
/// call throws an ``MPIError`` naming the operation.
///
/// Collectives are blocking: every rank must make the same calls in the same order, and a rank
/// that stops calling (an error, a crash) leaves the others waiting. A program that meets an
/// error on one rank after training started should end the job with ``abort(exitCode:)``.
public final class MPICommunicator: Communicator {
  /// This process's rank in `MPI_COMM_WORLD`, `0..<worldSize`.
  public let rank: Int
  /// Processes in the job.
  public let worldSize: Int
  /// Processes of the job on this machine, this one included: divide the machine's cores by it
  /// to give each process its share.
  public let localWorldSize: Int

  /// The most elements one `MPI_Allreduce` call takes (its count is a C `int`).
  package static let maximumChunk = Int(Int32.max)

  /// A communicator over `MPI_COMM_WORLD`; the first one of the process initialises MPI.
  /// - Throws: ``MPIError`` when MPI cannot be initialised (or was finalised already).
  public init() throws(MPIError) {
    let world = try MPIWorld.shared.get()
    rank = world.rank
    worldSize = world.size
    localWorldSize = world.localSize
  }

  /// Whether this process was started by an MPI launcher (`mpirun`/`mpiexec` of Open MPI, or a
  /// PMI launcher such as MPICH's Hydra or Slurm's `srun`), judged from its environment, so a
  /// program can use MPI only then. The caller passes the environment (libraries never read
  /// it): `ProcessInfo.processInfo.environment`.
  public static func launchedByMPIRun(environment: [String: String]) -> Bool {
    environment["OMPI_COMM_WORLD_SIZE"] != nil || environment["PMI_SIZE"] != nil
  }

  /// Replaces `buffer` on every rank by the element-wise sum over ranks, in place
  /// (`MPI_Allreduce` with `MPI_IN_PLACE`), in calls of at most `Int32.max` elements.
  /// - Throws: ``MPIError``.
  public func allReduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {
    guard worldSize > 1, let base = buffer.baseAddress else { return }
    for chunk in Self.chunks(count: buffer.count, maximum: Self.maximumChunk) {
      try check(
        MPI_Allreduce(
          cmpi_in_place(), base + chunk.lowerBound, Int32(chunk.count), cmpi_float(), cmpi_sum(),
          cmpi_comm_world()),
        "MPI_Allreduce (\(chunk.count) floats)")
    }
  }

  /// The element-wise sum of `values` over ranks (`MPI_Allreduce` of doubles).
  /// - Throws: ``MPIError``.
  public func allReduceSum(_ values: [Double]) throws -> [Double] {
    guard worldSize > 1, !values.isEmpty else { return values }
    var sums = values
    try sums.withUnsafeMutableBufferPointer { buffer in
      for chunk in Self.chunks(count: buffer.count, maximum: Self.maximumChunk) {
        try check(
          MPI_Allreduce(
            cmpi_in_place(), buffer.baseAddress! + chunk.lowerBound, Int32(chunk.count),
            cmpi_double(), cmpi_sum(), cmpi_comm_world()),
          "MPI_Allreduce (\(chunk.count) doubles)")
      }
    }
    return sums
  }

  /// Returns once every rank has called it (`MPI_Barrier`).
  /// - Throws: ``MPIError``.
  public func barrier() throws {
    guard worldSize > 1 else { return }
    try check(MPI_Barrier(cmpi_comm_world()), "MPI_Barrier")
  }

  /// Ends every process of the job with `exitCode` (`MPI_Abort`): the way out of an error met
  /// by some ranks while the others wait in a collective.
  public func abort(exitCode: Int32) -> Never {
    MPI_Abort(cmpi_comm_world(), exitCode)
    exit(exitCode)
  }

  /// `0..<count` cut into consecutive ranges of at most `maximum` elements.
  package static func chunks(count: Int, maximum: Int) -> [Range<Int>] {
    precondition(count >= 0 && maximum > 0, "MPICommunicator.chunks: \(count) by \(maximum)")
    return stride(from: 0, to: count, by: maximum).map { $0..<min(count, $0 + maximum) }
  }
}
