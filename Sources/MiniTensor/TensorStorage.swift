#if canImport(Glibc)
  import Glibc
#endif

/// The buffer behind one or more `Tensor` values.
///
/// Invariant that makes the `@unchecked Sendable` sound: the elements are written only through
/// `Tensor`'s mutating API, which first ensures the storage is uniquely referenced (copy-on-write)
/// and owned (not a read-only mapping); kernels that write from several threads do so on disjoint
/// ranges of a storage that no other value can observe until they return.
@usableFromInline
final class TensorStorage: @unchecked Sendable {
  /// First element.
  @usableFromInline let base: UnsafeMutablePointer<Float>
  /// Number of `Float` elements.
  @usableFromInline let count: Int
  /// The owner of mapped memory, or `nil` when this storage allocated `base` itself.
  let mapping: (any AnyObject & Sendable)?

  /// Allocates `count` uninitialised floats, 64-byte aligned (large buffers come from
  /// `BufferCache`).
  @usableFromInline
  init(uninitializedCount count: Int) {
    precondition(count >= 0, "TensorStorage: negative count \(count)")
    self.count = count
    let raw = BufferCache.shared.allocate(bytes: Self.byteCount(count))
    base = raw.bindMemory(to: Float.self, capacity: max(count, 1))
    mapping = nil
  }

  /// Allocates `count` floats set to `value`.
  @usableFromInline
  convenience init(count: Int, repeating value: Float) {
    self.init(uninitializedCount: count)
    base.initialize(repeating: value, count: count)
  }

  /// Wraps memory owned by `owner` (a read-only mapping); the storage keeps `owner` alive.
  init(mapped base: UnsafePointer<Float>, count: Int, owner: any AnyObject & Sendable) {
    self.base = UnsafeMutablePointer(mutating: base)
    self.count = count
    self.mapping = owner
  }

  /// `count` zero floats in pages the kernel maps on first touch: memory is committed only as
  /// it is written (a key/value cache sized for a long context costs the positions it fills).
  init(zeroPagesCount count: Int) {
    let bytes = Self.byteCount(count)
    guard
      let pointer = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
      pointer != MAP_FAILED
    else {
      fatalError("TensorStorage: mapping \(bytes) bytes failed (errno \(errno))")
    }
    self.count = count
    base = pointer.bindMemory(to: Float.self, capacity: max(count, 1))
    mapping = AnonymousPages(pointer, bytes: bytes)
  }

  /// Whether the memory may be written in place (false for read-only mappings).
  @usableFromInline var isWritable: Bool { mapping == nil || mapping is AnonymousPages }

  /// Bytes allocated for `count` floats.
  private static func byteCount(_ count: Int) -> Int { max(count, 1) * MemoryLayout<Float>.stride }

  /// Zero pages of ``init(zeroPagesCount:)``, unmapped with their last storage.
  private final class AnonymousPages: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    let bytes: Int
    init(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
      self.pointer = pointer
      self.bytes = bytes
    }
    deinit { munmap(pointer, bytes) }
  }

  deinit {
    if mapping == nil {
      BufferCache.shared.release(UnsafeMutableRawPointer(base), bytes: Self.byteCount(count))
    }
  }
}
