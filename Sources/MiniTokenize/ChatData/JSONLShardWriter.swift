import Foundation
import MiniTensor

/// Writes JSON lines into numbered shards `shard-00000.jsonl`, … of a folder.
///
/// Each shard is written under `<name>.tmp` and fsynced when full; `commit()` renames them all
/// into place, so an interrupted run never leaves a shard that looks complete.
final class JSONLShardWriter {
  let directory: String
  let samplesPerShard: Int
  private(set) var shards: [ChatShardEntry] = []

  private var file: OutputFile?
  private var samplesInShard = 0
  private var tokensInShard = 0
  private var buffer: [UInt8] = []
  private var temporaries: [String] = []

  init(directory: String, samplesPerShard: Int) {
    precondition(samplesPerShard > 0, "JSONLShardWriter: samplesPerShard \(samplesPerShard)")
    self.directory = directory
    self.samplesPerShard = samplesPerShard
    buffer.reserveCapacity(1 << 20)
  }

  deinit { discard() }

  /// The shard file name for `index`.
  static func fileName(_ index: Int) -> String {
    let digits = String(index)
    return "shard-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".jsonl"
  }

  /// Appends one sample's line (without its newline) holding `tokens` tokens.
  func append(line: UnsafeRawBufferPointer, tokens: Int) throws {
    if file == nil { try openShard() }
    buffer.append(contentsOf: line)
    buffer.append(0x0A)
    samplesInShard += 1
    tokensInShard += tokens
    if buffer.count >= 1 << 20 { try flush() }
    if samplesInShard >= samplesPerShard { try closeShard() }
  }

  /// Closes the last shard and renames every shard into place; returns the shard list.
  func commit() throws -> [ChatShardEntry] {
    if file != nil { try closeShard() }
    for (index, temporary) in temporaries.enumerated() {
      let target = (directory as NSString).appendingPathComponent(Self.fileName(index))
      guard rename(temporary, target) == 0 else {
        throw SystemCallError("rename from \(temporary)", path: target)
      }
    }
    temporaries.removeAll()
    try OutputFile.syncDirectory(directory)
    return shards
  }

  /// Deletes the temporary files of shards not yet committed.
  func discard() {
    file = nil
    for temporary in temporaries { unlink(temporary) }
    temporaries.removeAll()
  }

  private func openShard() throws {
    let path = (directory as NSString).appendingPathComponent(
      Self.fileName(shards.count) + ".tmp")
    file = try OutputFile(creating: path)
    temporaries.append(path)
    samplesInShard = 0
    tokensInShard = 0
  }

  private func flush() throws {
    guard let file, !buffer.isEmpty else { return }
    try buffer.withUnsafeBytes { try file.write($0) }
    buffer.removeAll(keepingCapacity: true)
  }

  private func closeShard() throws {
    try flush()
    guard let file else { return }
    try file.sync()
    try file.close()
    self.file = nil
    shards.append(
      ChatShardEntry(
        file: Self.fileName(shards.count), samples: samplesInShard, tokens: tokensInShard))
  }
}

/// Appends JSON lines of integer arrays without building JSON values.
struct JSONLineBuilder {
  var bytes: [UInt8] = []

  /// Starts an object.
  mutating func open() { bytes.append(UInt8(ascii: "{")) }

  /// Ends an object.
  mutating func close() { bytes.append(UInt8(ascii: "}")) }

  /// Appends `"key":[v0,v1,…]`, preceded by a comma unless it is the object's first member.
  mutating func member<Values: Sequence>(_ key: StaticString, _ values: Values)
  where Values.Element: BinaryInteger {
    if bytes.last != UInt8(ascii: "{") { bytes.append(UInt8(ascii: ",")) }
    bytes.append(UInt8(ascii: "\""))
    key.withUTF8Buffer { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: Array("\":[".utf8))
    var first = true
    for value in values {
      if !first { bytes.append(UInt8(ascii: ",")) }
      first = false
      appendDecimal(Int(value))
    }
    bytes.append(UInt8(ascii: "]"))
  }

  private mutating func appendDecimal(_ value: Int) {
    precondition(value >= 0, "JSONLineBuilder: negative value \(value)")
    let start = bytes.count
    var rest = value
    repeat {
      bytes.append(UInt8(ascii: "0") + UInt8(rest % 10))
      rest /= 10
    } while rest > 0
    bytes[start...].reverse()
  }
}
