import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// One folder per test process for everything the tests write (runs, checkpoints, shards),
/// removed when the process exits; folders of earlier processes that died first are removed
/// when the next one starts.
public enum TestScratch {
  public static let prefix = "minillm-tests-"

  public static func path(pid: Int32) -> String {
    (NSTemporaryDirectory() as NSString).appendingPathComponent(prefix + String(pid))
  }

  public static let root: String = {
    let base = NSTemporaryDirectory()
    for name in (try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []
    where name.hasPrefix(prefix) {
      guard let pid = Int32(name.dropFirst(prefix.count)), pid != getpid() else { continue }
      if kill(pid, 0) != 0 && errno == ESRCH {
        try? FileManager.default.removeItem(atPath: path(pid: pid))
      }
    }
    let root = path(pid: getpid())
    try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    atexit { try? FileManager.default.removeItem(atPath: TestScratch.path(pid: getpid())) }
    return root
  }()
}

/// A fresh empty folder inside the test process's scratch folder, named after `label`.
public func temporaryDirectory(_ label: String = #function) throws -> String {
  let name = "\(label.filter { $0.isLetter || $0.isNumber || $0 == "-" })-\(UUID().uuidString)"
  let path = (TestScratch.root as NSString).appendingPathComponent(name)
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}
