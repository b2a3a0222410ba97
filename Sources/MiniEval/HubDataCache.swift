import Foundation

/// Data sets of the Hugging Face hub, read offline from the hub's local cache: the Parquet files
/// of a cached snapshot (`datasets--OWNER--NAME/snapshots/REVISION/…`), grouped by split.
public enum HubDataCache {
  /// The cache folder: `HF_HUB_CACHE`, else `HF_HOME/hub`, else `~/.cache/huggingface/hub`.
  public static var defaultRoot: String {
    let environment = ProcessInfo.processInfo.environment
    if let cache = environment["HF_HUB_CACHE"] ?? environment["HUGGINGFACE_HUB_CACHE"] {
      return cache
    }
    if let home = environment["HF_HOME"] { return home + "/hub" }
    return NSHomeDirectory() + "/.cache/huggingface/hub"
  }

  /// Split → Parquet files of `dataset` (`owner/name`) in the cache, only those under a folder
  /// named `configuration` when one is given. The snapshot is the one `refs/main` names, else
  /// the first. A file's split is its name up to the first `-` or `.`
  /// (`test-00000-of-00001.parquet`), or its folder's name for numbered files
  /// (`mini/test/0000.parquet`).
  /// - Throws: `EvalError` on `origin`'s `dataset_path` naming the data set when it is not cached
  ///   or holds no Parquet files (of the configuration).
  public static func files(
    dataset: String, configuration: String?, origin: String, root: String = defaultRoot
  ) throws -> [String: [String]] {
    let repository = root + "/datasets--" + dataset.replacingOccurrences(of: "/", with: "--")
    let manager = FileManager.default
    let snapshots = ((try? manager.contentsOfDirectory(atPath: repository + "/snapshots")) ?? [])
      .sorted()
    let main = (try? String(contentsOfFile: repository + "/refs/main", encoding: .utf8))?
      .trimmingCharacters(in: .whitespacesAndNewlines)
    guard let snapshot = snapshots.first(where: { $0 == main }) ?? snapshots.first else {
      throw EvalError(
        file: origin, at: "key dataset_path",
        "hub data set \"\(dataset)\" is not in the Hugging Face cache (\(repository)); data sets are read offline: download it first (huggingface-cli download --repo-type dataset \(dataset)) or name local files"
      )
    }
    let folder = repository + "/snapshots/" + snapshot
    var files: [String: [String]] = [:]
    for relative in (manager.subpaths(atPath: folder) ?? []).sorted()
    where relative.hasSuffix(".parquet") {
      let components = relative.split(separator: "/").map(String.init)
      if let configuration, !components.dropLast().contains(configuration) { continue }
      let name = components.last!
      let stem = name.prefix { $0 != "-" && $0 != "." }
      let split =
        stem.allSatisfy(\.isNumber) && components.count > 1
        ? components[components.count - 2] : String(stem)
      files[split, default: []].append(folder + "/" + relative)
    }
    guard !files.isEmpty else {
      let what = configuration.map { "configuration \"\($0)\" of " } ?? ""
      throw EvalError(
        file: origin, at: "key dataset_path",
        "the cached snapshot of \(what)hub data set \"\(dataset)\" holds no Parquet files (\(folder))"
      )
    }
    return files
  }
}
