import Foundation

/// A fresh empty folder under the system's temporary folder, removed by `remove()`.
struct ScratchFolder {
  let path: String

  init(_ label: String = #function) throws {
    let name = "minisupport-\(label.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)"
    path = (NSTemporaryDirectory() as NSString).appendingPathComponent(name)
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  func file(_ name: String) -> String { path + "/" + name }

  /// The names in the folder, sorted, hidden ones included.
  func names() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: path).sorted()
  }

  func contents(_ name: String) -> [UInt8]? {
    FileManager.default.contents(atPath: file(name)).map { Array($0) }
  }

  func remove() { try? FileManager.default.removeItem(atPath: path) }
}
