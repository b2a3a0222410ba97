import Foundation
import MiniSupport

#if canImport(Glibc)
  import Glibc
#endif

/// The few file-system operations checkpoints need beyond `writeFileAtomically`.
enum FileSystem {
  static func exists(_ path: String) -> Bool { FileManager.default.fileExists(atPath: path) }

  static func isDirectory(_ path: String) -> Bool {
    var directory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &directory)
      && directory.boolValue
  }

  /// Names in `directory`, sorted; empty when it does not exist.
  static func contents(of directory: String) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
  }

  static func createDirectory(_ path: String) throws {
    do {
      try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    } catch {
      throw CheckpointError(
        path: path, "cannot create the directory: \(error.localizedDescription)")
    }
  }

  static func remove(_ path: String) throws {
    guard exists(path) else { return }
    do {
      try FileManager.default.removeItem(atPath: path)
    } catch {
      throw CheckpointError(path: path, "cannot remove: \(error.localizedDescription)")
    }
  }

  static func rename(_ from: String, to: String) throws {
    guard Glibc.rename(from, to) == 0 else {
      throw CheckpointError(
        path: to, "cannot rename \(from) here: \(String(cString: strerror(errno)))")
    }
  }

  /// Flushes a directory's entries to disk; file systems that cannot (`EINVAL`) are let be.
  static func syncDirectory(_ path: String) throws {
    do {
      try AtomicFileWriter.syncDirectory(path)
    } catch let error as SystemCallError {
      throw CheckpointError(path: path, "cannot sync: \(error.operation) failed: \(error.reason)")
    }
  }

  /// Bytes available to this user on the file system holding `path`.
  static func availableBytes(at path: String) -> Int? {
    var status = statvfs()
    guard statvfs(path, &status) == 0 else { return nil }
    return Int(status.f_bavail) * Int(status.f_frsize)
  }

  /// Size of the regular file at `path`, if it is one.
  static func fileSize(_ path: String) -> Int? {
    var status = stat()
    guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
    return Int(status.st_size)
  }

  /// Lower-case hex SHA-256 of the file at `path`.
  static func sha256(ofFile path: String) throws -> String {
    try SHA256.hex(ofFile: path)
  }

  /// Writes `bytes` to `path` atomically (temporary file, fsync, rename, directory fsync).
  static func write(_ bytes: [UInt8], to path: String) throws {
    try writeFileAtomically(bytes, to: path)
  }

  /// Copies the file at `source` to `destination` atomically.
  static func copy(_ source: String, to destination: String) throws {
    let file = try MappedFile(path: source)
    try writeFileAtomically(to: destination) { sink in
      try file.withUnsafeBytes { try sink.write($0) }
    }
  }
}

/// A checkpoint or run directory that cannot be read, verified or written: names the file.
public struct CheckpointError: Error, CustomStringConvertible {
  /// The file or directory at fault.
  public let path: String
  /// What is wrong.
  public let message: String

  /// An error about `path`.
  public init(path: String, _ message: String) {
    self.path = path
    self.message = message
  }

  /// `path: message`.
  public var description: String { "\(path): \(message)" }
}
