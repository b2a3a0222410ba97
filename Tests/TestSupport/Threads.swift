import MiniTensor
import Synchronization

private let appliedThreadCount = Atomic<Int>(0)

/// Sets MiniTensor's thread count from `MINILLM_TEST_THREADS` when the test process starts (called
/// by the constructor in `TestThreadSetting`, before any test runs).
@_cdecl("minillm_test_set_thread_count")
public func setTestThreadCount(_ count: Int) {
  setThreadCount(max(1, count))
  appliedThreadCount.store(threadCount(), ordering: .relaxed)
}

/// The thread count applied from `MINILLM_TEST_THREADS` at start-up, or `nil` when none was.
public var testThreadCountAppliedAtStart: Int? {
  let count = appliedThreadCount.load(ordering: .relaxed)
  return count > 0 ? count : nil
}
