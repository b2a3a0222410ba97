import Synchronization

/// A request to stop training at the next step boundary (after saving a checkpoint), set from a
/// signal handler or another task and polled by the ``Trainer``.
public final class StopFlag: Sendable {
  private let requested = Atomic<Bool>(false)

  /// A flag not yet set.
  public init() {}

  /// Asks the trainer to stop after the current step.
  public func request() { requested.store(true, ordering: .relaxed) }

  /// Whether a stop was requested.
  public var isRequested: Bool { requested.load(ordering: .relaxed) }
}
