import Foundation

/// A fresh empty folder under the system's temporary folder, named after `label`.
public func temporaryDirectory(_ label: String = #function) throws -> String {
  let name =
    "minillm-\(label.filter { $0.isLetter || $0.isNumber || $0 == "-" })-\(UUID().uuidString)"
  let path = (NSTemporaryDirectory() as NSString).appendingPathComponent(name)
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}
