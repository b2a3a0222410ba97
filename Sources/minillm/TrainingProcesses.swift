import ArgumentParser
import Foundation
import MiniAutograd
import MiniDistributed
import MiniTensor
import MiniTrain

/// The processes of one training command: this one alone, or the ranks of an `mpirun -np N`
/// job (joined automatically when the environment shows `mpirun` started us). Every rank runs
/// the same command on its share of each global batch; rank 0 writes the files and prints.
struct TrainingProcesses {
  /// The collectives of the job (a ``SingleProcessCommunicator`` outside `mpirun`).
  let communicator: any Communicator
  /// Processes of the job on this machine.
  let localCount: Int

  /// The MPI job when `mpirun` started this process, else this process alone.
  static func join() throws -> TrainingProcesses {
    guard MPICommunicator.launchedByMPIRun(environment: ProcessInfo.processInfo.environment) else {
      return TrainingProcesses(communicator: SingleProcessCommunicator(), localCount: 1)
    }
    let mpi: MPICommunicator
    do {
      mpi = try MPICommunicator()
    } catch {
      throw CommandLineError("mpirun: \(error)")
    }
    return TrainingProcesses(communicator: mpi, localCount: mpi.localWorldSize)
  }

  /// Refuses to train a stage whose command does not share its work over the processes of an
  /// `mpirun` job (each process would train alone and write the same files).
  /// - Throws: one line naming the command.
  static func requireDataParallel(_ communicator: any Communicator, label: String) throws {
    if communicator is SingleProcessCommunicator,
      MPICommunicator.launchedByMPIRun(environment: ProcessInfo.processInfo.environment)
    {
      throw CommandLineError(
        "`minillm \(label)` does not train data-parallel yet; run it without mpirun")
    }
  }

  var rank: Int { communicator.rank }
  var count: Int { communicator.worldSize }
  var isPrimary: Bool { communicator.isPrimary }

  /// Sets the thread count: `--threads` when given, else (under `mpirun`) the machine's cores
  /// divided among the job's processes on it, at least 1.
  func applyThreads(_ options: ThreadOptions) throws {
    try options.apply()
    if options.threads == nil && count > 1 {
      setThreadCount(max(1, ProcessInfo.processInfo.activeProcessorCount / localCount))
    }
  }

  /// Runs `body` on every rank and agrees on the outcome, so that no rank goes on to wait in a
  /// collective for one that failed: when `body` throws on any rank it throws on every rank.
  /// Rank 0 reports its own error; another rank reports its error (naming the rank) only when
  /// rank 0 succeeded; the others exit with status 1 silently.
  func agree<T>(_ body: () throws -> T) throws -> T {
    try communicator.agree(body)
  }

  /// Runs `body` (the training) and, in a job of several processes, turns an error into the end
  /// of the whole job (`MPI_Abort`), since the other ranks may be waiting in a collective.
  func abortingOnError(_ body: () throws -> Void) throws {
    guard let mpi = communicator as? MPICommunicator, count > 1 else { return try body() }
    do {
      try body()
    } catch {
      printError("Error: \(rank == 0 ? "" : "rank \(rank): ")\(error)")
      mpi.abort(exitCode: 1)
    }
  }
}

extension Communicator {
  /// See ``TrainingProcesses/agree(_:)``.
  func agree<T>(_ body: () throws -> T) throws -> T {
    guard worldSize > 1 else { return try body() }
    let outcome = Result { try body() }
    let failure: Double = outcome.isFailure ? 1 : 0
    let sums = try allReduceSum([failure, rank == 0 ? failure : 0])
    switch outcome {
    case .success(let value):
      guard sums[0] == 0 else { throw ExitCode.failure }
      return value
    case .failure(let error):
      if rank == 0 { throw error }
      if sums[1] > 0 || error is ExitCode { throw ExitCode.failure }
      throw CommandLineError("rank \(rank): \(error)")
    }
  }

  /// This rank's share of `batches` (dealt round-robin), so that the held-out loss summed over
  /// ranks is that of all of them.
  func share<Batch>(of batches: [Batch]) -> [Batch] {
    stride(from: rank, to: batches.count, by: worldSize).map { batches[$0] }
  }

  /// Checks that every rank holds the same weights (bit for bit): every rank contributes a
  /// checksum of its arena and all compare them.
  /// - Throws: on every rank when they differ.
  func expectSameWeights(_ arena: ParameterArena) throws {
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
    if !differing.isEmpty {
      throw CommandLineError(
        "the weights of rank\(differing.count == 1 ? "" : "s") "
          + differing.map(String.init).joined(separator: ", ")
          + " differ from rank 0's after training (the ranks' gradient sums disagreed)")
    }
  }
}

extension Result where Failure == any Error {
  fileprivate var isFailure: Bool {
    if case .failure = self { return true }
    return false
  }
}
