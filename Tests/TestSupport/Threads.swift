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

/// Caps MiniTensor's kernels to the set named `name` (`MINILLM_TEST_KERNELS`) when the test
/// process starts; an unknown name stops the run, so a misspelt pass cannot pass silently.
@_cdecl("minillm_test_limit_kernels")
public func limitTestKernels(_ name: UnsafePointer<CChar>) {
  let text = String(cString: name)
  guard let set = KernelInstructionSet(name: text) else {
    fatalError("MINILLM_TEST_KERNELS=\(text): expected portable, avx2, avx512 or avx512-vnni")
  }
  limitKernelInstructionSet(to: set)
}

/// The thread count applied from `MINILLM_TEST_THREADS` at start-up, or `nil` when none was.
public var testThreadCountAppliedAtStart: Int? {
  let count = appliedThreadCount.load(ordering: .relaxed)
  return count > 0 ? count : nil
}
