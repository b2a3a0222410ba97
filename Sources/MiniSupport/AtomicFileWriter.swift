#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file written under a temporary name in its target's folder and renamed over the target only
/// when complete, so that readers see either the old file or the whole new one.
///
/// The temporary file is `.<name>.tmp-<pid>-<random>` beside `path`. `commit()` flushes it to
/// disk, renames it over `path` and flushes the folder. A writer that is discarded, or released
/// before `commit()`, removes its temporary file and leaves the old target as it was. Writers
/// that produce several files and want them all to appear together call `finish()` on each as
/// it is completed, then `commit(syncingDirectory: false)` on each and `syncDirectory(_:)` once.
package final class AtomicFileWriter {
  /// The file this writer replaces when committed.
  package let path: String
  /// The folder of `path`, where the temporary file is.
  package let directory: String
  /// The temporary file's path.
  package let temporaryPath: String

  private var descriptor: Int32
  private var state = State.open

  private enum State {
    case open
    case finished
    case committed
    case discarded
  }

  /// Creates the temporary file for a new version of `path`. A target that exists but is not a
  /// regular file (a device, a folder, a pipe) is never replaced.
  /// - Throws: `SystemCallError` when `path` exists and is not a regular file, or when the
  ///   temporary file cannot be created (e.g. the folder does not exist).
  package init(path: String) throws {
    var existing = stat()
    if stat(path, &existing) == 0, (existing.st_mode & S_IFMT) != S_IFREG {
      throw SystemCallError("replace (it is not a regular file)", path: path, code: EEXIST)
    }
    let slash = path.lastIndex(of: "/")
    let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
    let name = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
    let temporaryPath = "\(directory)/.\(name).tmp-\(getpid())-\(suffix)"
    let descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
    guard descriptor >= 0 else {
      throw SystemCallError("create temporary file", path: temporaryPath)
    }
    self.path = path
    self.directory = directory
    self.temporaryPath = temporaryPath
    self.descriptor = descriptor
  }

  deinit { discard() }

  /// Appends all of `bytes`, retrying short writes and interruptions.
  /// - Throws: `SystemCallError` on a failed `write`.
  package func write(_ bytes: UnsafeRawBufferPointer) throws {
    precondition(state == .open, "AtomicFileWriter.write: \(temporaryPath) is \(state)")
    guard let base = bytes.baseAddress else { return }
    var done = 0
    while done < bytes.count {
      let written = systemWrite(descriptor, base + done, bytes.count - done)
      if written < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("write", path: temporaryPath)
      }
      done += written
    }
  }

  /// Appends all of `bytes`.
  /// - Throws: `SystemCallError` on a failed `write`.
  package func write(_ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try write($0) }
  }

  /// Writes `bytes` at absolute `offset` without moving the append position (a header completed
  /// last).
  /// - Throws: `SystemCallError` on a failed `pwrite`.
  package func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
    precondition(state == .open, "AtomicFileWriter.write(at:): \(temporaryPath) is \(state)")
    guard let base = bytes.baseAddress else { return }
    var done = 0
    while done < bytes.count {
      let written = pwrite(descriptor, base + done, bytes.count - done, off_t(offset + done))
      if written < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("write", path: temporaryPath)
      }
      done += written
    }
  }

  /// Flushes the temporary file to disk and closes it; it keeps its temporary name until
  /// `commit`. Does nothing when already finished.
  /// - Throws: `SystemCallError` on a failed `fsync` or `close`.
  package func finish() throws {
    guard state == .open else {
      precondition(state == .finished, "AtomicFileWriter.finish: \(temporaryPath) is \(state)")
      return
    }
    guard fsync(descriptor) == 0 else { throw SystemCallError("fsync", path: temporaryPath) }
    let result = close(descriptor)
    descriptor = -1
    state = .finished
    guard result == 0 else { throw SystemCallError("close", path: temporaryPath) }
  }

  /// Finishes the file if needed and renames it over `path`; then flushes the folder unless
  /// `syncingDirectory` is false (the caller then calls `syncDirectory(_:)` itself).
  /// - Throws: `SystemCallError` for a failed system call; the temporary file is then removed.
  package func commit(syncingDirectory: Bool = true) throws {
    do {
      try finish()
      guard rename(temporaryPath, path) == 0 else { throw SystemCallError("rename", path: path) }
    } catch {
      discard()
      throw error
    }
    state = .committed
    if syncingDirectory { try Self.syncDirectory(directory) }
  }

  /// Closes and removes the temporary file unless it was committed. Safe to call more than once.
  package func discard() {
    switch state {
    case .committed, .discarded: return
    case .open: close(descriptor)
    case .finished: break
    }
    descriptor = -1
    unlink(temporaryPath)
    state = .discarded
  }

  /// Flushes a folder's entries (renames in it) to disk; file systems that cannot sync folders
  /// (`EINVAL`) are let be.
  /// - Throws: `SystemCallError` when the folder cannot be opened or synced.
  package static func syncDirectory(_ directory: String) throws {
    let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else { throw SystemCallError("open directory", path: directory) }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 || errno == EINVAL else {
      throw SystemCallError("fsync directory", path: directory)
    }
  }
}

/// The writer a `writeFileAtomically` body writes through.
package typealias AtomicFileSink = AtomicFileWriter

/// The C `write`, under a name that the writer's own `write` does not shadow.
private func systemWrite(_ descriptor: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
  write(descriptor, bytes, count)
}

/// Writes a file so that readers see either the old file or the complete new one.
///
/// `body` writes to an `AtomicFileWriter`'s temporary file, which is then committed (flushed,
/// renamed over `path`, the folder flushed). If anything fails, including `body`, the temporary
/// file is removed and the old target is left as it was.
/// - Throws: `SystemCallError` for a failed system call, or what `body` throws.
package func writeFileAtomically(to path: String, _ body: (AtomicFileSink) throws -> Void) throws {
  let file = try AtomicFileWriter(path: path)
  do {
    try body(file)
    try file.commit()
  } catch {
    file.discard()
    throw error
  }
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, folder fsync).
/// - Throws: `SystemCallError` for a failed system call.
package func writeFileAtomically(_ bytes: [UInt8], to path: String) throws {
  try writeFileAtomically(to: path) { try $0.write(bytes) }
}
