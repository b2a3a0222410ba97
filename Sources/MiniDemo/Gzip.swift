internal import CZlib
import Foundation
import MiniTokenize

/// Gzip decompression through zlib (Foundation on Linux has none).
public enum Gzip {
  /// Whether `bytes` start with the gzip magic number (1f 8b).
  public static func isCompressed(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
  }

  /// Decompresses a gzip stream of one or more members.
  ///
  /// - Parameters:
  ///   - bytes: The compressed bytes.
  ///   - path: The file they came from, named in errors.
  /// - Returns: The decompressed bytes.
  /// - Throws: `InputError` naming `path` when the stream is corrupt or truncated.
  public static func decompress(_ bytes: [UInt8], path: String) throws -> [UInt8] {
    var input = bytes
    var output: [UInt8] = []
    output.reserveCapacity(bytes.count * 4)
    var stream = z_stream()
    guard czlib_inflate_init_gzip(&stream) == Z_OK else {
      throw InputError(path: path, message: "cannot start zlib's inflate")
    }
    defer { inflateEnd(&stream) }
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    try input.withUnsafeMutableBufferPointer { source in
      stream.next_in = source.baseAddress
      stream.avail_in = UInt32(source.count)
      while true {
        let (status, produced) = chunk.withUnsafeMutableBufferPointer { target in
          stream.next_out = target.baseAddress
          stream.avail_out = UInt32(target.count)
          let status = inflate(&stream, Z_NO_FLUSH)
          return (status, target.count - Int(stream.avail_out))
        }
        output.append(contentsOf: chunk[0..<produced])
        switch status {
        case Z_STREAM_END:
          // Another gzip member may follow (as `gzip -c a b` writes).
          guard stream.avail_in > 0 else { return }
          guard inflateReset(&stream) == Z_OK else {
            throw InputError(path: path, message: "cannot restart zlib's inflate")
          }
        case Z_OK:
          if stream.avail_in == 0 && produced == 0 {
            throw InputError(path: path, message: "gzip stream is truncated")
          }
        case Z_BUF_ERROR where stream.avail_in == 0:
          throw InputError(path: path, message: "gzip stream is truncated")
        default:
          let reason = stream.msg.map { String(cString: $0) } ?? "status \(status)"
          throw InputError(
            path: path, message: "corrupt gzip data at byte \(Int(stream.total_in)): \(reason)")
        }
      }
    }
    return output
  }

  /// Reads a file, decompressing it when it is gzip (by content, not by name).
  ///
  /// - Throws: `InputError` naming `path` when it cannot be read or is corrupt.
  public static func readFile(atPath path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw InputError(path: path, message: "cannot read the file")
    }
    let bytes = [UInt8](data)
    return isCompressed(bytes) ? try decompress(bytes, path: path) : bytes
  }

  /// Reads a (possibly gzip-compressed) UTF-8 text file.
  ///
  /// - Throws: `InputError` naming `path` when it cannot be read, is corrupt, or is not UTF-8.
  public static func readText(atPath path: String) throws -> String {
    let bytes = try readFile(atPath: path)
    guard let text = String(validating: bytes, as: UTF8.self) else {
      throw InputError(path: path, message: "not valid UTF-8")
    }
    return text
  }
}
