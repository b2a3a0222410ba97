import Dispatch
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

private let configuredThreads = Atomic<Int>(0)

/// The most threads ``setThreadCount(_:)`` configures; larger requests are clamped to it.
public let maximumThreadCount = 1024

/// Sets how many threads OpenBLAS and MiniTensor's own kernels use (at least 1, at most
/// ``maximumThreadCount``: larger counts are clamped).
///
/// One setting drives both, so GEMMs and the element-wise kernels between them never
/// oversubscribe the cores. The default is the number of online processors. A thread inside
/// ``withThreadCount(_:_:)`` keeps its own count.
public func setThreadCount(_ count: Int) {
  precondition(count >= 1, "setThreadCount: \(count) < 1")
  let clamped = min(count, maximumThreadCount)
  OpenBLASGate.setProcessCount(clamped) {
    configuredThreads.store(clamped, ordering: .relaxed)
  }
}

/// The thread count of the calling thread: the one ``withThreadCount(_:_:)`` gave it, else the
/// one set by ``setThreadCount(_:)``, else the number of online processors.
public func threadCount() -> Int {
  if let local = pthread_getspecific(localThreadCountKey) { return Int(bitPattern: local) }
  return processThreadCount()
}

/// The process's thread count (``setThreadCount(_:)`` or the online processors).
func processThreadCount() -> Int {
  let configured = configuredThreads.load(ordering: .relaxed)
  return configured > 0 ? configured : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}

/// Runs `body` with the calling thread's kernels, and the OpenBLAS calls they make, on `count`
/// threads (at least 1, at most ``maximumThreadCount``), leaving every other thread's count
/// alone; calls nest.
///
/// OpenBLAS keeps one count for the process, so its calls from inside `body` wait while other
/// threads' calls at another count run, and the reverse.
public func withThreadCount<R>(_ count: Int, _ body: () throws -> R) rethrows -> R {
  precondition(count >= 1, "withThreadCount: \(count) < 1")
  let clamped = min(count, maximumThreadCount)
  let previous = pthread_getspecific(localThreadCountKey)
  pthread_setspecific(localThreadCountKey, UnsafeRawPointer(bitPattern: clamped))
  defer { pthread_setspecific(localThreadCountKey, previous) }
  return try body()
}

/// The key of the per-thread count of ``withThreadCount(_:_:)``.
private let localThreadCountKey: pthread_key_t = {
  var key = pthread_key_t()
  precondition(pthread_key_create(&key, nil) == 0, "threadCount: pthread_key_create")
  return key
}()

/// Runs `body` over disjoint ranges covering `0..<count`, one per thread, when each range would
/// hold at least `grain` items; otherwise runs it once on the calling thread.
package func parallelFor(_ count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
  let threads = threadCount()
  let chunks = min(threads, count / max(grain, 1))
  if chunks <= 1 {
    if count > 0 { body(0..<count) }
    return
  }
  if WorkerPool.shared.run(count, chunks: chunks, body) { return }
  withoutActuallyEscaping(body) { body in
    let box = UncheckedSendable(body)
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
      let start = count * chunk / chunks
      let end = count * (chunk + 1) / chunks
      box.value(start..<end)
    }
  }
}

/// Carries a value into `concurrentPerform` when the caller guarantees that its uses touch
/// disjoint memory.
package struct UncheckedSendable<Value>: @unchecked Sendable {
  package let value: Value
  package init(_ value: Value) { self.value = value }
}
