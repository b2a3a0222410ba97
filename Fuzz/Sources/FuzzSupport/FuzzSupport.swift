import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Helpers shared by the fuzz targets: the readers under test take paths, so each input is
/// written to a scratch file first (in `/dev/shm` when it exists, so no disk is touched).
public enum FuzzScratch {
  /// A folder private to this process, created on first use.
  public static let directory: String = {
    let base =
      FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
    let path = "\(base)/minillm-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }()

  /// Writes `bytes` to `name` inside the scratch folder and returns its path.
  public static func write(_ bytes: UnsafeRawBufferPointer, name: String) -> String {
    let path = directory + "/" + name
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
    precondition(descriptor >= 0, "fuzz scratch: cannot create \(path)")
    var offset = 0
    while offset < bytes.count {
      let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
      precondition(written > 0, "fuzz scratch: cannot write \(path)")
      offset += written
    }
    close(descriptor)
    return path
  }

  /// Writes `bytes` to `name` inside the scratch folder and returns its path.
  public static func write(_ bytes: [UInt8], name: String) -> String {
    bytes.withUnsafeBytes { write($0, name: name) }
  }

  /// An empty folder `name` inside the scratch folder (its old contents removed).
  public static func emptyFolder(_ name: String) -> String {
    let path = directory + "/" + name
    try? FileManager.default.removeItem(atPath: path)
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
  }
}

/// The input as bytes.
public func fuzzBytes(_ data: UnsafePointer<UInt8>?, _ size: Int) -> UnsafeRawBufferPointer {
  guard let data, size > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
  return UnsafeRawBufferPointer(start: data, count: size)
}
