// In-place access to shared storage, for MiniLLM's own modules (the parameter arena, the tape).
//
// A tensor's storage is normally written only when uniquely referenced (copy-on-write). The
// parameter arena instead owns a few large flat tensors whose storage is viewed, zero-copy, by
// every parameter's value and gradient tensor, and writes through it in place (optimizer steps,
// gradient accumulation) so that every view sees the new elements. The arena's owner (the task
// running the training loop) guarantees that no view is read on another thread while it writes;
// writes through a view's own mutating API still copy first, so views keep value semantics.

extension Tensor {
  /// A contiguous tensor of `shape` whose elements `body` must all write (the memory starts
  /// uninitialised, which saves a pass for outputs that a kernel overwrites).
  package init(
    unsafeUninitializedShape shape: [Int],
    initializingWith body: (UnsafeMutableBufferPointer<Float>) throws -> Void
  ) rethrows {
    self.init(uninitializedShape: shape)
    try body(UnsafeMutableBufferPointer(start: storage.base + offset, count: count))
  }

  /// Calls `body` with a pointer to this contiguous tensor's elements *in its shared storage*:
  /// unlike `withUnsafeMutableBufferPointer`, nothing is copied, so writes are seen by every
  /// tensor viewing the same storage.
  ///
  /// - Precondition: the tensor is contiguous and its storage writable (not a read-only mapping).
  package func withUnsafeSharedMutableBufferPointer<R>(
    _ body: (UnsafeMutableBufferPointer<Float>) throws -> R
  ) rethrows -> R {
    precondition(
      isContiguous && storage.isWritable,
      "withUnsafeSharedMutableBufferPointer: \(shape) must be contiguous and writable")
    return try body(UnsafeMutableBufferPointer(start: storage.base + offset, count: count))
  }

  /// Whether two tensors view the same storage (used to check zero-copy aliasing).
  package func sharesStorage(with other: Tensor) -> Bool {
    storage === other.storage
  }
}
