import NIOCore

/// A task executor that runs every job on one NIO event loop.
///
/// The server runs under it (`withTaskExecutorPreference`), so its tasks (the connections,
/// the request handlers, the streams' writers) and the default actors they call never wait
/// for a thread of Swift's shared concurrency pool: a process whose pool is busy with long
/// synchronous work (a test process, an application computing on it) still answers, and
/// a handler writes to its connection from the loop that owns it, without a thread hop.
final class EventLoopExecutor: TaskExecutor {
  /// The loop that runs the jobs.
  let eventLoop: any EventLoop

  /// An executor running its jobs on `eventLoop`.
  init(_ eventLoop: any EventLoop) {
    self.eventLoop = eventLoop
  }

  func enqueue(_ job: consuming ExecutorJob) {
    let job = UnownedJob(job)
    eventLoop.execute { [self] in
      job.runSynchronously(on: asUnownedTaskExecutor())
    }
  }
}
