import Foundation

/// A Chinese corpus for the tokenizer benchmark (`minillm bench tokenize`): the demo's texts
/// (poems, sayings, man-page paragraphs), one document per line.
package enum BenchCorpus {
  /// Writes the documents to `path`, repeating them until `minimumBytes`.
  /// - Returns: the bytes written.
  /// - Throws: `MissingPackageError` naming a package that is not installed, or file errors.
  package static func write(to path: String, minimumBytes: Int) throws -> Int {
    let texts = try DemoTexts.load()
    let documents =
      texts.poems.map(\.document) + texts.sayings
      + texts.manPages.flatMap { $0.sections.flatMap(\.paragraphs) }
    let block = Data(
      (documents.map { $0.replacingOccurrences(of: "\n", with: "") }.joined(separator: "\n")
        + "\n").utf8)
    guard FileManager.default.createFile(atPath: path, contents: nil) else {
      throw DemoError("cannot create \(path)")
    }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    var written = 0
    while written < minimumBytes {
      try handle.write(contentsOf: block)
      written += block.count
    }
    return written
  }
}
