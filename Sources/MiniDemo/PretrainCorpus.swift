import Foundation
import MiniTensor

/// The demo's pretraining corpus: one document per poem, saying and man page, split into a
/// training and a held-out part by a hash of each document's text.
public enum PretrainCorpus {
  /// One document and where it came from.
  public struct Document: Sendable, Hashable {
    /// The source: `tang300`, `song100`, `chinese` or `man`.
    public var source: String
    /// The text.
    public var text: String

    /// Creates a document.
    public init(source: String, text: String) {
      self.source = source
      self.text = text
    }
  }

  /// What `write(_:trainPath:heldOutPath:heldOutPercent:)` wrote.
  public struct Summary: Sendable, Codable, Equatable {
    /// Documents in the training file.
    public var trainDocuments: Int
    /// Documents in the held-out file.
    public var heldOutDocuments: Int
    /// Characters (Unicode scalars) of all documents.
    public var characters: Int
    /// Training documents per source.
    public var documentsPerSource: [String: Int]
  }

  /// Every document of `texts`: poems, then sayings, then man pages.
  public static func documents(from texts: DemoTexts) -> [Document] {
    texts.poems.map { Document(source: $0.collection, text: $0.document) }
      + texts.sayings.map { Document(source: "chinese", text: $0) }
      + texts.manPages.map { Document(source: "man", text: $0.document) }
  }

  /// Whether a document is held out: FNV-1a of its text, modulo 100, below `percent`.
  /// Depends on the text alone, so the split is the same on every machine and run.
  public static func isHeldOut(_ text: String, percent: Int) -> Bool {
    Int(fnv1a(text) % 100) < percent
  }

  /// Writes the training and held-out documents as JSON lines `{"text": …}`.
  ///
  /// - Parameters:
  ///   - documents: The documents, written in this order.
  ///   - trainPath: The training file.
  ///   - heldOutPath: The held-out file.
  ///   - heldOutPercent: Percent of the documents (by hash) to hold out, 0–50.
  /// - Returns: The counts.
  /// - Throws: When a file cannot be written.
  public static func write(
    _ documents: [Document], trainPath: String, heldOutPath: String, heldOutPercent: Int
  ) throws -> Summary {
    precondition((0...50).contains(heldOutPercent), "heldOutPercent \(heldOutPercent) ∉ 0...50")
    var train = JSONLines()
    var heldOut = JSONLines()
    var summary = Summary(
      trainDocuments: 0, heldOutDocuments: 0, characters: 0, documentsPerSource: [:])
    for document in documents {
      summary.characters += document.text.unicodeScalars.count
      if isHeldOut(document.text, percent: heldOutPercent) {
        heldOut.append(["text": document.text])
        summary.heldOutDocuments += 1
      } else {
        train.append(["text": document.text])
        summary.trainDocuments += 1
        summary.documentsPerSource[document.source, default: 0] += 1
      }
    }
    try train.write(to: trainPath)
    try heldOut.write(to: heldOutPath)
    return summary
  }

  /// 64-bit FNV-1a of the text's UTF-8 bytes.
  static func fnv1a(_ text: String) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x0000_0100_0000_01b3
    }
    return hash
  }
}

/// JSON lines of string-valued objects, keys sorted, written atomically.
public struct JSONLines: Sendable {
  /// The text so far.
  public private(set) var text = ""
  /// Lines so far.
  public private(set) var count = 0

  /// An empty file.
  public init() {}

  /// Appends one object of string fields (keys in sorted order).
  public mutating func append(_ fields: [String: String]) {
    text += "{"
    for (index, key) in fields.keys.sorted().enumerated() {
      if index > 0 { text += ", " }
      text += Self.quoted(key) + ": " + Self.quoted(fields[key] ?? "")
    }
    text += "}\n"
    count += 1
  }

  /// Writes the lines to `path` (atomically, replacing it).
  public func write(to path: String) throws {
    try Data(text.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
  }

  /// `string` as a JSON string literal (UTF-8 kept, control characters escaped).
  public static func quoted(_ string: String) -> String { jsonStringLiteral(string) }
}
