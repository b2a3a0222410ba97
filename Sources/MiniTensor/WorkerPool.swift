import Dispatch
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#endif

/// Worker threads that stay awake for a short while after each parallel region, so the next
/// region starts without a wake-up through the kernel.
///
/// Decoding one token runs a few dozen short regions (a matrix-vector product of a small model
/// takes tens of microseconds); waking a sleeping thread for each costs as much as the work.
/// A worker spins (yielding the core to anything else runnable) for `spinNanoseconds` after its
/// last chunk, then sleeps on a semaphore until the next region.
///
/// One region runs at a time: a caller that finds the pool busy (another thread's region, or a
/// region nested in a chunk) runs on `DispatchQueue.concurrentPerform` instead. Chunk `i` always
/// covers the same range whichever thread runs it, so results never depend on scheduling.
final class WorkerPool: @unchecked Sendable {
  /// The pool of the process: one worker fewer than the online processors.
  static let shared = WorkerPool(
    workers: max(0, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) - 1))

  /// How long an idle worker keeps polling before it sleeps.
  static let spinNanoseconds: UInt64 = 300_000

  /// One worker's sleep handshake.
  private final class Worker: Sendable {
    let sleeping = Atomic<Bool>(false)
    let wake = DispatchSemaphore(value: 0)
  }

  private let workers: [Worker]
  /// Set while a region runs.
  private let busy = Atomic<Bool>(false)
  /// The region: generation (bits 32…63), chunk count (16…31), next unclaimed chunk (0…15).
  private let state = Atomic<UInt64>(0)
  /// Chunks finished in the current region.
  private let finished = Atomic<Int>(0)
  /// The current region's body and item count; written before `state` publishes the region,
  /// read only by a thread that claimed one of its chunks (so the region is still running).
  private nonisolated(unsafe) var body: ((Range<Int>) -> Void)?
  private nonisolated(unsafe) var count = 0

  private init(workers count: Int) {
    workers = (0..<count).map { _ in Worker() }
    for (index, worker) in workers.enumerated() {
      let thread = Thread { [unowned self] in self.serve(worker) }
      thread.name = "MiniTensor worker \(index + 1)"
      thread.start()
    }
  }

  /// Runs `body` on `chunks` ranges splitting `0..<count`, on the pool's threads and the
  /// caller's; `false` (nothing ran) when the pool is busy or too small.
  func run(_ count: Int, chunks: Int, _ body: (Range<Int>) -> Void) -> Bool {
    guard !workers.isEmpty, chunks < 1 << 16,
      busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
    else { return false }
    withoutActuallyEscaping(body) { body in
      self.body = body
      self.count = count
      let generation = (state.load(ordering: .relaxed) >> 32 &+ 1) & 0xFFFF_FFFF
      state.store(generation << 32 | UInt64(chunks) << 16, ordering: .sequentiallyConsistent)
      for worker in workers
      where worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
        worker.wake.signal()
      }
      runChunks()
      var polls = 0
      while finished.load(ordering: .acquiring) < chunks {
        polls += 1
        if polls % 64 == 0 { sched_yield() }
      }
      finished.store(0, ordering: .relaxed)
      self.body = nil
    }
    busy.store(false, ordering: .releasing)
    return true
  }

  /// Claims and runs chunks of the current region until none is left.
  private func runChunks() {
    while true {
      var current = state.load(ordering: .acquiring)
      var claimed: Int?
      while true {
        let chunks = Int(current >> 16 & 0xFFFF)
        let next = Int(current & 0xFFFF)
        guard next < chunks else { break }
        let (exchanged, original) = state.compareExchange(
          expected: current, desired: current + 1, ordering: .acquiringAndReleasing)
        if exchanged {
          claimed = next
          break
        }
        current = original
      }
      guard let chunk = claimed else { return }
      let chunks = Int(current >> 16 & 0xFFFF)
      let start = count * chunk / chunks
      let end = count * (chunk + 1) / chunks
      body!(start..<end)
      finished.add(1, ordering: .releasing)
    }
  }

  /// A worker's loop: run the chunks of each new region, poll for the next one, then sleep.
  private func serve(_ worker: Worker) {
    var seen = state.load(ordering: .acquiring) >> 32
    while true {
      var polls = 0
      var idleSince: UInt64 = 0
      while state.load(ordering: .acquiring) >> 32 == seen {
        polls += 1
        guard polls % 64 == 0 else { continue }
        sched_yield()
        let now = DispatchTime.now().uptimeNanoseconds
        if idleSince == 0 {
          idleSince = now
        } else if now - idleSince > Self.spinNanoseconds {
          worker.sleeping.store(true, ordering: .sequentiallyConsistent)
          if state.load(ordering: .sequentiallyConsistent) >> 32 == seen {
            worker.wake.wait()
          } else if !worker.sleeping.exchange(false, ordering: .sequentiallyConsistent) {
            // The caller saw the flag and signals: take that signal.
            worker.wake.wait()
          }
          idleSince = 0
        }
      }
      seen = state.load(ordering: .acquiring) >> 32
      runChunks()
    }
  }
}
