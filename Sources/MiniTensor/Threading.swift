internal import COpenBLAS
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
/// oversubscribe the cores. The default is the number of online processors.
public func setThreadCount(_ count: Int) {
  precondition(count >= 1, "setThreadCount: \(count) < 1")
  let clamped = min(count, maximumThreadCount)
  configuredThreads.store(clamped, ordering: .relaxed)
  openblas_set_num_threads(Int32(clamped))
}

/// The thread count set by `setThreadCount(_:)`, or the number of online processors.
public func threadCount() -> Int {
  let configured = configuredThreads.load(ordering: .relaxed)
  return configured > 0 ? configured : max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
}

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
