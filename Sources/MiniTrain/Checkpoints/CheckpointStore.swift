import Foundation

/// The `checkpoints/` folder of a run: `step-000120/` directories, each written under
/// `step-000120.tmp/`, fsynced, then renamed into place with its parent fsynced, so a directory
/// with the final name is always complete; `manifest.json` (written last) lets a reader verify
/// it.
public struct CheckpointStore: Sendable {
  /// The folder.
  public let directory: String

  /// The store in `directory` (created when the first checkpoint is written).
  public init(directory: String) { self.directory = directory }

  /// A checkpoint found in the store.
  public struct Entry: Sendable, Equatable {
    /// Step it was taken after.
    public var step: Int
    /// Its directory.
    public var path: String
  }

  /// `step-000120` (at least six digits).
  public static func name(step: Int) -> String {
    let digits = String(step)
    return "step-" + String(repeating: "0", count: max(0, 6 - digits.count)) + digits
  }

  /// The step of a completed checkpoint's directory name, or `nil` for anything else.
  static func step(ofName name: String) -> Int? {
    guard name.hasPrefix("step-") else { return nil }
    let digits = name.dropFirst(5)
    guard digits.count >= 6, digits.allSatisfy(\.isASCII), let step = Int(digits), step >= 0
    else { return nil }
    return step
  }

  /// Completed checkpoint directories (by name; not verified), oldest first.
  public func entries() -> [Entry] {
    FileSystem.contents(of: directory).compactMap { name in
      guard let step = Self.step(ofName: name) else { return nil }
      let path = directory + "/" + name
      return FileSystem.isDirectory(path) ? Entry(step: step, path: path) : nil
    }.sorted { $0.step < $1.step }
  }

  /// The newest checkpoint whose manifest verifies; each newer one that does not is reported to
  /// `rejected` with the reason, and skipped.
  public func newestValid(rejected: (Entry, CheckpointError) -> Void = { _, _ in }) -> Entry? {
    for entry in entries().reversed() {
      do {
        let manifest = try CheckpointManifest.verify(directory: entry.path)
        guard manifest.step == entry.step else {
          throw CheckpointError(
            path: entry.path + "/" + CheckpointManifest.fileName,
            "says step \(manifest.step), the directory name says \(entry.step)")
        }
        return entry
      } catch let error as CheckpointError {
        rejected(entry, error)
      } catch {
        rejected(entry, CheckpointError(path: entry.path, "\(error)"))
      }
    }
    return nil
  }

  /// Writes the checkpoint of `step`: `contents` fills a fresh `step-N.tmp/`, then the manifest
  /// is written, the directory fsynced and renamed to `step-N/` (replacing an older one of the
  /// same step), and the store fsynced. When writing fails (a full disk, say), `step-N.tmp/` is
  /// removed and the error rethrown; existing checkpoints are untouched.
  /// - Parameter contents: writes the files (each fsynced, e.g. with `writeFileAtomically`).
  /// - Returns: the checkpoint.
  @discardableResult
  public func write(step: Int, contents: (String) throws -> Void) throws -> Entry {
    try FileSystem.createDirectory(directory)
    let name = Self.name(step: step)
    let temporary = directory + "/" + name + ".tmp"
    let final = directory + "/" + name
    try FileSystem.remove(temporary)
    try FileSystem.createDirectory(temporary)
    do {
      try contents(temporary)
      let manifest = try CheckpointManifest.make(step: step, directory: temporary)
      try FileSystem.write(
        manifest.encoded(), to: temporary + "/" + CheckpointManifest.fileName)
      try FileSystem.syncDirectory(temporary)
    } catch {
      // A full disk or a read-only folder: the unfinished copy goes, older checkpoints stay.
      try? FileSystem.remove(temporary)
      throw error
    }
    var replaced: String?
    if FileSystem.exists(final) {
      replaced = directory + "/" + name + ".old"
      try FileSystem.remove(replaced!)
      try FileSystem.rename(final, to: replaced!)
    }
    try FileSystem.rename(temporary, to: final)
    try FileSystem.syncDirectory(directory)
    if let replaced { try FileSystem.remove(replaced) }
    return Entry(step: step, path: final)
  }

  /// Removes unfinished `*.tmp` and replaced `*.old` directories left by an interrupted write.
  public func removeLeftovers() throws {
    for name in FileSystem.contents(of: directory)
    where name.hasPrefix("step-") && (name.hasSuffix(".tmp") || name.hasSuffix(".old")) {
      try FileSystem.remove(directory + "/" + name)
    }
  }

  /// Deletes checkpoints beyond the newest `keepLast`, except those whose step is a multiple of
  /// `keepEvery` (when > 0) and `protected`.
  /// - Returns: the deleted checkpoints.
  @discardableResult
  public func prune(keepLast: Int, keepEvery: Int = 0, protected: Set<Int> = []) throws -> [Entry] {
    precondition(keepLast >= 1, "CheckpointStore.prune: keepLast \(keepLast)")
    let all = entries()
    var removed: [Entry] = []
    for entry in all.dropLast(keepLast) {
      if keepEvery > 0 && entry.step % keepEvery == 0 { continue }
      if protected.contains(entry.step) { continue }
      try FileSystem.remove(entry.path)
      removed.append(entry)
    }
    if !removed.isEmpty { try FileSystem.syncDirectory(directory) }
    return removed
  }

  /// Bytes free on the store's file system (or its nearest existing parent's).
  public func availableBytes() -> Int? {
    var path = directory
    while !FileSystem.exists(path) {
      let parent = (path as NSString).deletingLastPathComponent
      if parent == path || parent.isEmpty { return nil }
      path = parent
    }
    return FileSystem.availableBytes(at: path)
  }
}
