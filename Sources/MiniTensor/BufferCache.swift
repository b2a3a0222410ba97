import Synchronization

/// Keeps freed tensor buffers of at least `minimumBytes` for reuse by later tensors of the same
/// byte size, so a training step that allocates the same activations and gradients as the step
/// before it gets them back without asking the system for fresh (page-faulting, zero-filled)
/// memory.
///
/// The cache holds little more than the largest amount of buffer memory that was ever in use at
/// once: cached plus live bytes stay within that peak plus one eighth, so the process's footprint
/// stays near what a plain allocator would have needed at its worst moment. A miss that would
/// break the bound frees cached buffers of other sizes first. It is the one piece of process-wide state in MiniTensor;
/// the lock guards a few dictionary operations per allocation of 256 KiB or more.
package final class BufferCache: Sendable {
  /// Buffers smaller than this go straight to the system allocator.
  package static let minimumBytes = 1 << 18
  /// Alignment of every tensor buffer.
  static let alignment = 64

  private struct State {
    /// Free buffers (addresses) by byte size, most recently freed last.
    var free: [Int: [UInt]] = [:]
    var cachedBytes = 0
    var liveBytes = 0
    var peakLiveBytes = 0
    var hits = 0
    var misses = 0

    /// The most bytes cached and live buffers may hold together: the peak in use plus one
    /// eighth, the slack that lets a step whose sizes take turns around its peak (a large
    /// buffer freed just before two smaller ones are needed, then the reverse) keep both.
    var bound: Int { peakLiveBytes + peakLiveBytes / 8 }
  }

  private let state = Mutex(State())

  /// An empty cache (tensors use `shared`).
  package init() {}

  /// The cache shared by every tensor of the process.
  package static let shared = BufferCache()

  /// A buffer of `bytes` bytes, 64-byte aligned, uninitialised.
  package func allocate(bytes: Int) -> UnsafeMutableRawPointer {
    if bytes < Self.minimumBytes {
      return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.alignment)
    }
    var evicted: [UInt] = []
    let reused: UInt? = state.withLock { s in
      s.liveBytes += bytes
      s.peakLiveBytes = max(s.peakLiveBytes, s.liveBytes)
      if let address = s.free[bytes]?.popLast() {
        s.cachedBytes -= bytes
        s.hits += 1
        return address
      }
      s.misses += 1
      // Make room so that cached + live bytes stay within the bound.
      while s.cachedBytes + s.liveBytes > s.bound,
        let size = s.free.first(where: { !$0.value.isEmpty })?.key,
        let address = s.free[size]?.popLast()
      {
        s.cachedBytes -= size
        evicted.append(address)
      }
      s.free = s.free.filter { !$0.value.isEmpty }
      return nil
    }
    for address in evicted { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
    if let reused, let pointer = UnsafeMutableRawPointer(bitPattern: reused) { return pointer }
    return UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: Self.alignment)
  }

  /// Returns a buffer of `bytes` bytes obtained from `allocate(bytes:)`.
  package func release(_ pointer: UnsafeMutableRawPointer, bytes: Int) {
    if bytes < Self.minimumBytes {
      pointer.deallocate()
      return
    }
    let keep = state.withLock { s in
      s.liveBytes -= bytes
      guard s.cachedBytes + bytes + s.liveBytes <= s.bound else { return false }
      s.free[bytes, default: []].append(UInt(bitPattern: pointer))
      s.cachedBytes += bytes
      return true
    }
    if !keep { pointer.deallocate() }
  }

  /// Frees every cached buffer and restarts the peak from the bytes in use now.
  package func trim() {
    let addresses = state.withLock { s in
      let all = s.free.values.flatMap { $0 }
      s.free = [:]
      s.cachedBytes = 0
      s.peakLiveBytes = s.liveBytes
      return all
    }
    for address in addresses { UnsafeMutableRawPointer(bitPattern: address)?.deallocate() }
  }

  /// Counters for tests and benchmarks.
  package var statistics: TensorBufferStatistics {
    state.withLock { s in
      TensorBufferStatistics(
        cachedBytes: s.cachedBytes, liveBytes: s.liveBytes, peakLiveBytes: s.peakLiveBytes,
        hits: s.hits, misses: s.misses)
    }
  }
}

/// What the tensor buffer cache holds and how often it served an allocation (buffers of
/// 256 KiB or more only).
public struct TensorBufferStatistics: Sendable, Equatable {
  /// Bytes of freed buffers kept for reuse.
  public var cachedBytes: Int
  /// Bytes of buffers in use by tensors.
  public var liveBytes: Int
  /// The most bytes in use at once since the start (or the last trim).
  public var peakLiveBytes: Int
  /// Allocations served from the cache.
  public var hits: Int
  /// Allocations that asked the system.
  public var misses: Int
}

extension Tensor {
  /// Counters of the buffer cache that large tensors (256 KiB or more) allocate from: freed
  /// buffers are kept, up to the most memory that was ever in use at once, and handed to the
  /// next tensor of the same byte size, so steady-state training steps do not page-fault.
  public static var bufferStatistics: TensorBufferStatistics { BufferCache.shared.statistics }

  /// Returns the cached free buffers to the system (for example after training, before a phase
  /// that needs the memory for something else).
  public static func releaseCachedBuffers() { BufferCache.shared.trim() }
}
