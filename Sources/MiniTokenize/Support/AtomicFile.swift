import Foundation

/// Writes files so that readers see either the old file or the complete new one: the bytes go to
/// `<name>.tmp` in the same folder, are fsynced, renamed over the target, and the folder is
/// fsynced so the rename itself survives a crash.
package enum AtomicFile {
  /// Writes `bytes` to `path` atomically.
  /// - Throws: `AtomicFileError` naming the path and the failing call.
  package static func write(_ bytes: [UInt8], to path: String) throws {
    let temporary = path + ".tmp"
    let file = try OutputFile(creating: temporary)
    do {
      try bytes.withUnsafeBytes { try file.write($0) }
      try file.sync()
      try file.close()
      try commit(temporary, to: path)
    } catch {
      unlink(temporary)
      throw error
    }
  }

  /// Renames a finished temporary file over `path` and fsyncs the folder.
  package static func commit(_ temporary: String, to path: String) throws {
    guard rename(temporary, path) == 0 else {
      throw AtomicFileError(path: path, operation: "rename from \(temporary)", code: errno)
    }
    try syncDirectory(of: path)
  }

  /// Fsyncs the folder holding `path`.
  package static func syncDirectory(of path: String) throws {
    let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
    let descriptor = open(folder, O_RDONLY | O_DIRECTORY)
    guard descriptor >= 0 else {
      throw AtomicFileError(path: folder, operation: "open folder", code: errno)
    }
    defer { close(descriptor) }
    guard fsync(descriptor) == 0 else {
      throw AtomicFileError(path: folder, operation: "fsync folder", code: errno)
    }
  }
}

/// A failed file operation, with the path, the call and the system's message.
public struct AtomicFileError: Error, CustomStringConvertible {
  /// The file or folder.
  public var path: String
  /// What was being done.
  public var operation: String
  /// `errno`.
  public var code: Int32

  public var description: String {
    "\(path): \(operation) failed: \(String(cString: strerror(code)))"
  }
}

/// A file opened for writing through a raw descriptor (so it can be fsynced and pwritten).
package final class OutputFile {
  /// The path it was created at.
  package let path: String
  private var descriptor: Int32

  /// Creates (or truncates) `path` for writing.
  package init(creating path: String) throws {
    self.path = path
    descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      throw AtomicFileError(path: path, operation: "create", code: errno)
    }
  }

  deinit { if descriptor >= 0 { Foundation.close(descriptor) } }

  /// Appends `bytes` at the current position.
  package func write(_ bytes: UnsafeRawBufferPointer) throws {
    var offset = 0
    while offset < bytes.count {
      let written = Foundation.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
      if written < 0 {
        if errno == EINTR { continue }
        throw AtomicFileError(path: path, operation: "write", code: errno)
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
        throw AtomicFileError(path: path, operation: "write", code: errno)
      }
      done += written
    }
  }

  /// Flushes the file's data to the disk.
  package func sync() throws {
    guard fsync(descriptor) == 0 else {
      throw AtomicFileError(path: path, operation: "fsync", code: errno)
    }
  }

  /// Closes the descriptor.
  package func close() throws {
    let result = Foundation.close(descriptor)
    descriptor = -1
    guard result == 0 else { throw AtomicFileError(path: path, operation: "close", code: errno) }
  }
}
