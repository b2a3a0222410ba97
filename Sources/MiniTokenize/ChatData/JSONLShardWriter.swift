/// Writes JSON lines into numbered shards `shard-00000.jsonl`, … of a folder.
///
/// Each shard is written under a temporary name and fsynced when full; `commit()` renames them
/// all into place, so an interrupted run never leaves a shard that looks complete.
final class JSONLShardWriter {
  let directory: String
  let samplesPerShard: Int
  private(set) var shards: [ChatShardEntry] = []

  private let files: ShardFileSet
  private var samplesInShard = 0
  private var tokensInShard = 0

  init(directory: String, samplesPerShard: Int) {
    precondition(samplesPerShard > 0, "JSONLShardWriter: samplesPerShard \(samplesPerShard)")
    self.directory = directory
    self.samplesPerShard = samplesPerShard
    files = ShardFileSet(directory: directory, fileName: Self.fileName)
  }

  /// The shard file name for `index`.
  static func fileName(_ index: Int) -> String {
    let digits = String(index)
    return "shard-" + String(repeating: "0", count: max(0, 5 - digits.count)) + digits + ".jsonl"
  }

  /// Appends one sample's line (without its newline) holding `tokens` tokens.
  func append(line: UnsafeRawBufferPointer, tokens: Int) throws {
    if !files.hasOpenShard {
      try files.openShard()
      samplesInShard = 0
      tokensInShard = 0
    }
    try files.append { buffer in
      buffer.append(contentsOf: line)
      buffer.append(0x0A)
    }
    samplesInShard += 1
    tokensInShard += tokens
    if samplesInShard >= samplesPerShard { try closeShard() }
  }

  /// Closes the last shard and renames every shard into place; returns the shard list.
  func commit() throws -> [ChatShardEntry] {
    if files.hasOpenShard { try closeShard() }
    try files.commit()
    return shards
  }

  /// Deletes the temporary files of shards not yet committed.
  func discard() { files.discard() }

  private func closeShard() throws {
    let file = try files.closeShard()
    shards.append(ChatShardEntry(file: file, samples: samplesInShard, tokens: tokensInShard))
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
