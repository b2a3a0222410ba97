import Foundation
import MiniTensor

/// A file opened for writing through a raw descriptor, so it can be written at an offset (a
/// token shard's header is completed last) and fsynced. Whole small files are written with
/// MiniTensor's `writeFileAtomically` instead.
package final class OutputFile {
  /// The path it was created at.
  package let path: String
  private var descriptor: Int32

  /// Creates (or truncates) `path` for writing.
  package init(creating path: String) throws {
    self.path = path
    descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw SystemCallError("create", path: path) }
  }

  deinit { if descriptor >= 0 { Foundation.close(descriptor) } }

  /// Appends `bytes` at the current position.
  package func write(_ bytes: UnsafeRawBufferPointer) throws {
    var offset = 0
    while offset < bytes.count {
      let written = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
      if written < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("write", path: path)
      }
      offset += written
    }
  }

  /// Writes `bytes` at absolute `offset` without moving the current position.
  package func write(_ bytes: UnsafeRawBufferPointer, at offset: Int) throws {
    var done = 0
    while done < bytes.count {
      let written = pwrite(
        descriptor, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
      if written < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("write", path: path)
      }
      done += written
    }
  }

  /// Flushes the file's data to the disk.
  package func sync() throws {
    guard fsync(descriptor) == 0 else { throw SystemCallError("fsync", path: path) }
  }

  /// Closes the descriptor.
  package func close() throws {
    let result = Foundation.close(descriptor)
    descriptor = -1
    guard result == 0 else { throw SystemCallError("close", path: path) }
  }

  /// Fsyncs a folder so renames in it survive a crash (file systems that cannot, `EINVAL`, are
  /// let be).
  package static func syncDirectory(_ directory: String) throws {
    let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    guard descriptor >= 0 else { throw SystemCallError("open directory", path: directory) }
    defer { Foundation.close(descriptor) }
    guard fsync(descriptor) == 0 || errno == EINVAL else {
      throw SystemCallError("fsync directory", path: directory)
    }
  }
}

/// Writes `bytes` to `path` atomically (temporary file, fsync, rename, folder fsync).
func writeAtomically(_ bytes: [UInt8], to path: String) throws {
  try writeFileAtomically(to: path) { sink in try bytes.withUnsafeBytes { try sink.write($0) } }
}
