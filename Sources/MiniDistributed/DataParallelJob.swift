import Foundation
import MiniTrain

/// The processes of one training job: this one alone, or the ranks of an `mpirun -np N` job
/// (joined when the environment shows `mpirun` started this process). Every rank runs the same
/// work on its share of each global batch; rank 0 writes the files and prints.
public struct DataParallelJob {
  /// The collectives of the job (a `SingleProcessCommunicator` outside `mpirun`).
  public let communicator: any Communicator
  /// Processes of the job on this machine.
  public let localCount: Int

  /// The MPI job when `environment` (the process's) shows that `mpirun` started this process,
  /// else this process alone.
  /// - Throws: ``MPIError`` when the MPI job cannot be joined.
  public static func join(environment: [String: String]) throws -> DataParallelJob {
    guard MPICommunicator.launchedByMPIRun(environment: environment) else {
      return DataParallelJob(communicator: SingleProcessCommunicator(), localCount: 1)
    }
    let mpi = try MPICommunicator()
    return DataParallelJob(communicator: mpi, localCount: mpi.localWorldSize)
  }

  /// The threads each process should use when none are asked for: the machine's cores divided
  /// among the job's processes on it (at least 1); `nil` for a single process.
  public var threadsPerProcess: Int? {
    communicator.worldSize > 1
      ? max(1, ProcessInfo.processInfo.activeProcessorCount / localCount) : nil
  }

  /// Runs `body` (the training) and, in a job of several processes, turns an error into the
  /// end of the whole job (`MPI_Abort`), since the other ranks may be waiting in a collective;
  /// `report` is told the error line first (`Error: rank 1: …`).
  public func abortingOnError(report: (String) -> Void, _ body: () throws -> Void) throws {
    guard let mpi = communicator as? MPICommunicator, communicator.worldSize > 1 else {
      return try body()
    }
    do {
      try body()
    } catch {
      let rank = communicator.rank
      report("Error: \(rank == 0 ? "" : "rank \(rank): ")\(error)")
      mpi.abort(exitCode: 1)
    }
  }
}
