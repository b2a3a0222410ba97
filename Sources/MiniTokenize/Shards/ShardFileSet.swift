import MiniSupport

/// The numbered files of a set of shards being written into a folder, for the token-shard and
/// JSONL-shard writers.
///
/// Each shard goes through an `AtomicFileWriter`: it is written under a temporary name and
/// flushed to disk when it is closed; `commit()` renames them all into place and flushes the
/// folder once, so an interrupted run never leaves a shard under its final name. Shards not
/// committed are removed by `discard()`, or when the set is released.
final class ShardFileSet {
  /// The folder.
  let directory: String
  private let fileName: (Int) -> String
  private var open: AtomicFileWriter?
  private var closed: [AtomicFileWriter] = []
  private var buffer: [UInt8] = []
  /// Bytes gathered before they are written to the open shard.
  private static let bufferLimit = 1 << 20

  /// Shards written into `directory` (which must exist), the one at `index` named
  /// `fileName(index)`.
  init(directory: String, fileName: @escaping (Int) -> String) {
    self.directory = directory
    self.fileName = fileName
    buffer.reserveCapacity(Self.bufferLimit)
  }

  deinit { discard() }

  /// Whether a shard is open for writing.
  var hasOpenShard: Bool { open != nil }

  /// Opens the next shard.
  /// - Throws: `SystemCallError` when its temporary file cannot be created.
  func openShard() throws {
    precondition(open == nil, "ShardFileSet.openShard: a shard is already open")
    let name = fileName(closed.count)
    open = try AtomicFileWriter(
      path: directory.hasSuffix("/") ? directory + name : directory + "/" + name)
  }

  /// Lets `body` append bytes to the open shard.
  /// - Throws: `SystemCallError` on a failed write.
  func append(_ body: (inout [UInt8]) -> Void) throws {
    precondition(open != nil, "ShardFileSet.append: no shard is open")
    body(&buffer)
    if buffer.count >= Self.bufferLimit { try flush() }
  }

  /// Completes the open shard: writes what is buffered, then `header` over its first bytes (a
  /// header whose counts are known only now), and flushes it to disk.
  /// - Returns: the shard's file name.
  /// - Throws: `SystemCallError` on a failed write or sync.
  func closeShard(header: [UInt8]? = nil) throws -> String {
    guard let file = open else { preconditionFailure("ShardFileSet.closeShard: no shard is open") }
    try flush()
    if let header { try header.withUnsafeBytes { try file.write($0, at: 0) } }
    try file.finish()
    open = nil
    closed.append(file)
    return fileName(closed.count - 1)
  }

  /// Renames every closed shard into place and flushes the folder; the set is then empty.
  /// - Throws: `SystemCallError` on a failed rename or sync.
  func commit() throws {
    precondition(open == nil, "ShardFileSet.commit: close the open shard first")
    for file in closed { try file.commit(syncingDirectory: false) }
    closed.removeAll()
    try AtomicFileWriter.syncDirectory(directory)
  }

  /// Removes the temporary files of the shards not yet committed.
  func discard() {
    open?.discard()
    open = nil
    for file in closed { file.discard() }
    closed.removeAll()
    buffer.removeAll(keepingCapacity: true)
  }

  private func flush() throws {
    guard let open, !buffer.isEmpty else { return }
    try buffer.withUnsafeBytes { try open.write($0) }
    buffer.removeAll(keepingCapacity: true)
  }
}
