#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// An open temporary file that `writeFileAtomically` renames over its target.
package struct AtomicFileSink {
  let descriptor: Int32
  /// The temporary file's path.
  package let temporaryPath: String

  /// Writes all of `bytes`, retrying short writes and interruptions.
  /// - Throws: `SystemCallError` on a failed `write`.
  package func write(_ bytes: UnsafeRawBufferPointer) throws {
    guard var next = bytes.baseAddress else { return }
    var remaining = bytes.count
    while remaining > 0 {
      let written = systemWrite(descriptor, next, remaining)
      if written < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("write", path: temporaryPath)
      }
      next += written
      remaining -= written
    }
  }
}

/// The C `write`, under a name that the sink's own `write` does not shadow.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
  write(descriptor, bytes, count)
}

/// Writes a file so that readers see either the old file or the complete new one.
///
/// `body` writes to a temporary file in the target's directory (`.<name>.tmp-<pid>-<random>`),
/// which is then flushed to disk, renamed over `path`, and the directory flushed. If anything
/// fails, including `body`, the temporary file is removed and the old target is left as it was.
/// A target that exists but is not a regular file (a device, a folder) is never replaced.
/// - Throws: `SystemCallError` for a failed system call or a target that is not a regular file,
///   or what `body` throws.
package func writeFileAtomically(to path: String, _ body: (AtomicFileSink) throws -> Void) throws {
  let slash = path.lastIndex(of: "/")
  let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
  let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
  let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
  let temporaryPath = "\(directory)/.\(name).tmp-\(getpid())-\(suffix)"
  // Only a regular file is ever replaced: never a device, a folder or a pipe.
  var existing = stat()
  if stat(path, &existing) == 0, (existing.st_mode & S_IFMT) != S_IFREG {
    throw SystemCallError("replace (it is not a regular file)", path: path, code: EEXIST)
  }

  let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
  guard descriptor >= 0 else { throw SystemCallError("create temporary file", path: temporaryPath) }
  var isOpen = true
  var isRenamed = false
  defer {
    if isOpen { close(descriptor) }
    if !isRenamed { unlink(temporaryPath) }
  }
  try body(AtomicFileSink(descriptor: descriptor, temporaryPath: temporaryPath))
  guard fsync(descriptor) == 0 else { throw SystemCallError("fsync", path: temporaryPath) }
  isOpen = false
  guard close(descriptor) == 0 else { throw SystemCallError("close", path: temporaryPath) }
  guard rename(temporaryPath, path) == 0 else { throw SystemCallError("rename", path: path) }
  isRenamed = true
  try syncDirectory(directory)
}

/// Flushes a directory's entries (a rename in it) to disk; file systems that cannot sync
/// directories (`EINVAL`) are let be.
private func syncDirectory(_ directory: String) throws {
  let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
  guard descriptor >= 0 else { throw SystemCallError("open directory", path: directory) }
  defer { close(descriptor) }
  guard fsync(descriptor) == 0 || errno == EINVAL else {
    throw SystemCallError("fsync directory", path: directory)
  }
}
