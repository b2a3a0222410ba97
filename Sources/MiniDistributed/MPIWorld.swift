internal import CMPI

#if canImport(Glibc)
  import Glibc
#endif

/// The process's MPI job, set up once: `MPI_Init_thread` (unless the program initialised MPI
/// itself), errors returned as codes instead of aborting, and the ranks counted.
///
/// MPI can be initialised once per process and never again after `MPI_Finalize`, so the state
/// lives in one lazily built constant and `MPI_Finalize` runs from an `atexit` handler: every
/// ``MPICommunicator`` of the process shares the job, and the job ends when the process does.
struct MPIWorld: Sendable {
  /// This process's rank in `MPI_COMM_WORLD`.
  let rank: Int
  /// Processes in `MPI_COMM_WORLD`.
  let size: Int
  /// Processes of the job sharing this machine's memory (this one included).
  let localSize: Int

  /// The job, or why it could not be joined; built on first use.
  static let shared: Result<MPIWorld, MPIError> = {
    do throws(MPIError) {
      return .success(try MPIWorld())
    } catch {
      return .failure(error)
    }
  }()

  private init() throws(MPIError) {
    var flag: Int32 = 0
    MPI_Finalized(&flag)
    if flag != 0 {
      throw MPIError(
        operation: "MPI_Init_thread", code: -1,
        message: "MPI was already finalised in this process; it cannot be initialised again")
    }
    MPI_Initialized(&flag)
    if flag == 0 {
      var provided: Int32 = 0
      try check(
        MPI_Init_thread(nil, nil, cmpi_thread_serialized(), &provided), "MPI_Init_thread")
      // The job ends with the process; atexit handlers run in reverse order of registration,
      // so this one runs before those the MPI library registered while initialising.
      atexit { MPIWorld.finalize() }
      guard provided >= cmpi_thread_serialized() else {
        throw MPIError(
          operation: "MPI_Init_thread", code: -1,
          message: "the library offers thread level \(provided), below MPI_THREAD_SERIALIZED; "
            + "training calls MPI from whichever thread runs the trainer")
      }
    }
    let world = cmpi_comm_world()
    try check(MPI_Comm_set_errhandler(world, cmpi_errors_return()), "MPI_Comm_set_errhandler")
    var value: Int32 = 0
    try check(MPI_Comm_rank(world, &value), "MPI_Comm_rank")
    rank = Int(value)
    try check(MPI_Comm_size(world, &value), "MPI_Comm_size")
    size = Int(value)
    var local: MPI_Comm?
    try check(
      MPI_Comm_split_type(world, cmpi_comm_type_shared(), 0, cmpi_info_null(), &local),
      "MPI_Comm_split_type (processes on this machine)")
    try check(MPI_Comm_size(local, &value), "MPI_Comm_size (processes on this machine)")
    localSize = Int(value)
    try check(MPI_Comm_free(&local), "MPI_Comm_free")
  }

  /// Ends the job when it is still running: the `atexit` handler.
  private static func finalize() {
    var finalized: Int32 = 0
    MPI_Finalized(&finalized)
    if finalized == 0 { MPI_Finalize() }
  }
}

/// Throws an ``MPIError`` naming `operation` unless `code` is `MPI_SUCCESS`.
func check(_ code: Int32, _ operation: @autoclosure () -> String) throws(MPIError) {
  guard code != MPI_SUCCESS else { return }
  var buffer = [CChar](repeating: 0, count: Int(cmpi_max_error_string()) + 1)
  var length: Int32 = 0
  let message: String
  if MPI_Error_string(code, &buffer, &length) == MPI_SUCCESS {
    message = String(
      decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
  } else {
    message = ""
  }
  throw MPIError(operation: operation(), code: code, message: message)
}
