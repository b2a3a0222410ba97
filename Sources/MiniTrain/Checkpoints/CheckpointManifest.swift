import Foundation
import MiniSupport

/// `manifest.json` of a checkpoint, written last: the size and SHA-256 of every other file, and
/// its own SHA-256 on its last line, so that a flipped bit or a truncation anywhere in the
/// checkpoint, the manifest included, is detected.
///
/// ```json
/// {
///   "format": "minillm-checkpoint",
///   "version": 1,
///   "step": 120,
///   "files": [
///     {"name": "config.json", "bytes": 612, "sha256": "…"},
///     …
///   ],
///   "manifest_sha256": "<SHA-256 of every byte before this line>"
/// }
/// ```
public struct CheckpointManifest: Sendable, Equatable {
  /// One file of the checkpoint.
  public struct File: Sendable, Equatable, Codable {
    /// File name inside the checkpoint directory.
    public var name: String
    /// Size in bytes.
    public var bytes: Int
    /// Lower-case hex SHA-256.
    public var sha256: String
  }

  /// The step the checkpoint was taken after.
  public var step: Int
  /// Every file but the manifest, sorted by name.
  public var files: [File]

  /// The file name.
  public static let fileName = "manifest.json"
  static let format = "minillm-checkpoint"
  static let checksumKey = "  \"manifest_sha256\": \""

  /// The manifest of the files now in `directory` (all but a manifest), hashed from disk.
  static func make(step: Int, directory: String) throws -> CheckpointManifest {
    var files: [File] = []
    for name in FileSystem.contents(of: directory) where name != fileName {
      let path = directory + "/" + name
      guard let size = FileSystem.fileSize(path),
        name.utf8.allSatisfy({ $0 < 0x80 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
      else {
        throw CheckpointError(path: path, "a checkpoint holds only regular files with plain names")
      }
      files.append(File(name: name, bytes: size, sha256: try FileSystem.sha256(ofFile: path)))
    }
    return CheckpointManifest(step: step, files: files)
  }

  /// The manifest's bytes, ending with its own checksum.
  func encoded() -> [UInt8] {
    var text = "{\n  \"format\": \"\(Self.format)\",\n  \"version\": 1,\n  \"step\": \(step),\n"
    text += "  \"files\": [\n"
    text += files.map {
      "    {\"name\": \"\($0.name)\", \"bytes\": \($0.bytes), \"sha256\": \"\($0.sha256)\"}"
    }.joined(separator: ",\n")
    text += "\n  ],\n"
    return Self.sealed(Array(text.utf8))
  }

  /// `body` followed by the checksum line that closes a manifest.
  static func sealed(_ body: [UInt8]) -> [UInt8] {
    body + Array((checksumKey + SHA256.hex(of: body) + "\"\n}\n").utf8)
  }

  /// Parses and self-checks manifest bytes.
  /// - Throws: ``CheckpointError`` when the bytes are not a whole, unaltered manifest.
  static func decode(_ bytes: [UInt8], path: String) throws -> CheckpointManifest {
    let key = Array(checksumKey.utf8)
    let tail = Array("\"\n}\n".utf8)
    let trailer = key.count + 64 + tail.count
    guard bytes.count > trailer, Array(bytes.suffix(tail.count)) == tail else {
      throw CheckpointError(path: path, "truncated or altered: it does not end with its checksum")
    }
    let checksumStart = bytes.count - trailer
    guard Array(bytes[checksumStart..<(checksumStart + key.count)]) == key else {
      throw CheckpointError(path: path, "truncated or altered: no manifest_sha256 line at the end")
    }
    let stored = String(
      decoding: bytes[(checksumStart + key.count)..<(bytes.count - tail.count)], as: UTF8.self)
    let body = Array(bytes[..<checksumStart])
    guard SHA256.hex(of: body) == stored else {
      throw CheckpointError(path: path, "its SHA-256 does not match its manifest_sha256 line")
    }
    struct Layout: Decodable {
      var format: String
      var version: Int
      var step: Int
      var files: [File]
      var checksum: String
      enum CodingKeys: String, CodingKey {
        case format, version, step, files
        case checksum = "manifest_sha256"
      }
    }
    let layout: Layout
    do {
      layout = try JSONDecoder().decode(Layout.self, from: Data(bytes))
    } catch {
      throw CheckpointError(path: path, "not a checkpoint manifest: \(error)")
    }
    guard layout.format == format, layout.version == 1 else {
      throw CheckpointError(
        path: path, "format \(layout.format) version \(layout.version) is not supported")
    }
    guard layout.step >= 0 else {
      throw CheckpointError(path: path, "step \(layout.step) is negative")
    }
    for file in layout.files where file.bytes < 0 {
      throw CheckpointError(path: path, "file '\(file.name)' has a negative size \(file.bytes)")
    }
    for file in layout.files
    where file.name.isEmpty || file.name.contains("/") || file.name.hasPrefix(".")
      || file.name == fileName
    {
      throw CheckpointError(path: path, "lists a bad file name '\(file.name)'")
    }
    return CheckpointManifest(step: layout.step, files: layout.files)
  }

  /// Reads `directory/manifest.json` and checks every listed file's size and SHA-256, and that
  /// no other file is present.
  /// - Throws: ``CheckpointError`` naming the first file that does not match.
  public static func verify(directory: String) throws -> CheckpointManifest {
    let path = directory + "/" + fileName
    guard let data = FileManager.default.contents(atPath: path) else {
      throw CheckpointError(path: path, "missing (the checkpoint was not completed)")
    }
    let manifest = try decode(Array(data), path: path)
    let listed = Set(manifest.files.map(\.name))
    for name in FileSystem.contents(of: directory) where name != fileName && !listed.contains(name)
    {
      throw CheckpointError(path: directory + "/" + name, "not listed in the manifest")
    }
    for file in manifest.files {
      let filePath = directory + "/" + file.name
      guard let size = FileSystem.fileSize(filePath) else {
        throw CheckpointError(path: filePath, "listed in the manifest but missing")
      }
      guard size == file.bytes else {
        throw CheckpointError(
          path: filePath, "\(size) bytes, the manifest says \(file.bytes) (truncated?)")
      }
      guard try FileSystem.sha256(ofFile: filePath) == file.sha256 else {
        throw CheckpointError(path: filePath, "SHA-256 does not match the manifest (corrupted)")
      }
    }
    return manifest
  }
}
