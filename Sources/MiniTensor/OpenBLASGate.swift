internal import COpenBLAS

#if canImport(Glibc)
  import Glibc
#endif

/// Keeps OpenBLAS's thread count what each call asked for.
///
/// OpenBLAS has one thread count for the whole process, and its results depend on it (a GEMM
/// split over two threads can round differently from the same GEMM on one). So that a thread's
/// results never depend on what other threads do, every OpenBLAS call that MiniTensor makes
/// passes through this gate: a call at the count in force shares the gate with other such
/// calls; a call that needs another count (a thread inside ``withThreadCount(_:_:)``, or the
/// attention kernels' single-threaded per-head products) holds the gate alone while it sets the
/// count, and sets it back to the process's setting before it lets anyone else in.
enum OpenBLASGate {
  private nonisolated(unsafe) static let lock: UnsafeMutablePointer<pthread_rwlock_t> = {
    let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
    precondition(pthread_rwlock_init(lock, nil) == 0, "OpenBLASGate: pthread_rwlock_init")
    return lock
  }()

  /// OpenBLAS's count now; written only by a holder of the exclusive lock.
  private nonisolated(unsafe) static var current = Int(openblas_get_num_threads())

  /// Marks the threads that already hold the gate (their calls go straight through).
  private static let insideKey: pthread_key_t = {
    var key = pthread_key_t()
    precondition(pthread_key_create(&key, nil) == 0, "OpenBLASGate: pthread_key_create")
    return key
  }()

  /// Whether the calling thread runs inside a region that holds the gate.
  private static var isInside: Bool { pthread_getspecific(insideKey) != nil }

  /// Runs `body`, which calls OpenBLAS, with OpenBLAS on `threads` threads.
  static func call<R>(threads: Int, _ body: () throws -> R) rethrows -> R {
    if isInside { return try body() }
    pthread_rwlock_rdlock(lock)
    if current == threads {
      defer { pthread_rwlock_unlock(lock) }
      return try inside(body)
    }
    pthread_rwlock_unlock(lock)
    return try alone(threads: threads, body)
  }

  /// Runs `body` holding the gate alone, with OpenBLAS on `threads` threads; the calls that
  /// `body` makes, on this thread or in the regions it runs through ``inside(_:)``, go straight
  /// through. Afterwards the count is the process's setting again.
  static func alone<R>(threads: Int, _ body: () throws -> R) rethrows -> R {
    if isInside { return try body() }
    pthread_rwlock_wrlock(lock)
    defer { pthread_rwlock_unlock(lock) }
    if current != threads {
      openblas_set_num_threads(Int32(threads))
      current = threads
    }
    defer {
      let process = processThreadCount()
      if current != process {
        openblas_set_num_threads(Int32(process))
        current = process
      }
    }
    return try inside(body)
  }

  /// Runs `body` marked as inside the gate, for a chunk of a region whose caller holds it.
  static func inside<R>(_ body: () throws -> R) rethrows -> R {
    let previous = pthread_getspecific(insideKey)
    pthread_setspecific(insideKey, UnsafeRawPointer(bitPattern: 1))
    defer { pthread_setspecific(insideKey, previous) }
    return try body()
  }

  /// Sets the process's count (``setThreadCount(_:)``), waiting for running calls to end.
  static func setProcessCount(_ threads: Int, store: () -> Void) {
    pthread_rwlock_wrlock(lock)
    defer { pthread_rwlock_unlock(lock) }
    store()
    openblas_set_num_threads(Int32(threads))
    current = threads
  }
}
