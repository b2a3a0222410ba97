import Foundation

/// A Debian package the demo reads its texts from is not installed.
public struct MissingPackageError: Error, CustomStringConvertible {
  /// The package, e.g. `fortunes-zh`.
  public var package: String

  /// Creates the error for `package`.
  public init(package: String) { self.package = package }

  public var description: String {
    "the Debian package \(package) is not installed: run `sudo apt-get install \(package)` (or `make bootstrap`)"
  }
}

/// The files an installed Debian package put on disk (what `dpkg -L` prints).
public enum PackageFiles {
  /// The dpkg database folder holding one `<package>.list` per installed package.
  public static let defaultDatabase = "/var/lib/dpkg/info"

  /// Every path `package` installed, as listed by dpkg, that exists now.
  ///
  /// - Parameters:
  ///   - package: The package name, e.g. `manpages-zh`.
  ///   - database: dpkg's info folder.
  /// - Throws: `MissingPackageError` when dpkg has no file list for the package.
  public static func list(_ package: String, database: String = defaultDatabase) throws
    -> [String]
  {
    let candidates = ["\(package).list", "\(package):amd64.list", "\(package):all.list"]
    for name in candidates {
      let path = (database as NSString).appendingPathComponent(name)
      guard let data = FileManager.default.contents(atPath: path),
        let text = String(data: data, encoding: .utf8)
      else { continue }
      return text.split(separator: "\n").map(String.init).filter {
        FileManager.default.fileExists(atPath: $0)
      }
    }
    throw MissingPackageError(package: package)
  }

  /// Whether `path` is a symbolic link (man page aliases are; they repeat another page).
  public static func isSymbolicLink(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFLNK
  }
}
