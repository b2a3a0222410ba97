import MiniDistributed
import Testing

/// The parts of ``MPICommunicator`` that need no MPI job: launcher detection and the cutting of
/// large buffers into `MPI_Allreduce` calls. The collectives themselves run under `mpirun` in
/// ``DataParallelTrainingTests``.
@Suite struct MPICommunicatorTests {
  @Test(arguments: [
    (["OMPI_COMM_WORLD_SIZE": "2", "OMPI_COMM_WORLD_RANK": "1"], true),
    (["PMI_SIZE": "4", "PMI_RANK": "0"], true),
    (["PATH": "/usr/bin", "OMPI_MCA_btl": "self,vader"], false),
    ([:], false),
  ])
  func launcherDetection(environment: [String: String], expected: Bool) {
    #expect(MPICommunicator.launchedByMPIRun(environment: environment) == expected)
  }

  @Test func largeBuffersAreCutIntoCallsOfAtMostInt32MaxElements() {
    let maximum = MPICommunicator.maximumChunk
    #expect(maximum == Int(Int32.max))
    let count = 2 * maximum + 5
    let chunks = MPICommunicator.chunks(count: count, maximum: maximum)
    #expect(chunks.map(\.count) == [maximum, maximum, 5])
    // Consecutive and covering: each starts where the previous ended.
    #expect(chunks.first?.lowerBound == 0 && chunks.last?.upperBound == count)
    #expect(zip(chunks, chunks.dropFirst()).allSatisfy { $0.upperBound == $1.lowerBound })
    #expect(MPICommunicator.chunks(count: 10, maximum: 4).map(\.count) == [4, 4, 2])
    #expect(MPICommunicator.chunks(count: 0, maximum: 4).isEmpty)
    #expect(MPICommunicator.chunks(count: 4, maximum: 4) == [0..<4])
  }

  @Test func errorsNameTheOperation() {
    let error = MPIError(
      operation: "MPI_Allreduce (1024 floats)", code: 15,
      message: "MPI_ERR_TRUNCATE: message truncated")
    #expect(
      error.description
        == "MPI_Allreduce (1024 floats) failed with code 15: MPI_ERR_TRUNCATE: message truncated")
  }
}
