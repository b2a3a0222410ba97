#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A whole file mapped read-only (`PROT_READ`, `MAP_PRIVATE`) into memory.
///
/// Invariant that makes the `@unchecked Sendable` sound: the mapping is created in `init`, never
/// written (the pages are read-only) and unmapped only in `deinit`, when no value can reach it.
/// Tensors that view the mapping keep this object alive as their storage's owner.
package final class MappedFile: @unchecked Sendable {
  /// The path the file was opened with.
  package let path: String
  /// Size of the file in bytes when it was mapped.
  package let count: Int
  /// The first byte, or `nil` for an empty file (which cannot be mapped).
  private let base: UnsafeRawPointer?

  /// Maps the file at `path`.
  /// - Throws: `SystemCallError` when the file cannot be opened, examined or mapped.
  package init(path: String) throws {
    self.path = path
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw SystemCallError("open", path: path) }
    defer { close(descriptor) }
    var status = stat()
    guard fstat(descriptor, &status) == 0 else { throw SystemCallError("fstat", path: path) }
    guard (status.st_mode & S_IFMT) == S_IFREG else {
      throw SystemCallError("open (not a regular file)", path: path, code: EINVAL)
    }
    count = Int(status.st_size)
    if count == 0 {
      base = nil
      return
    }
    guard let address = mmap(nil, count, PROT_READ, MAP_PRIVATE, descriptor, 0),
      address != MAP_FAILED
    else { throw SystemCallError("mmap", path: path) }
    base = UnsafeRawPointer(address)
  }

  deinit {
    if let base { munmap(UnsafeMutableRawPointer(mutating: base), count) }
  }

  /// Calls `body` with the file's bytes; the pointer must not escape `body`.
  package func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    try body(UnsafeRawBufferPointer(start: base, count: count))
  }
}
