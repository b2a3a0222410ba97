internal import CZstd
import Foundation

/// A stream of bytes read front to back in chunks.
package protocol ByteSource: AnyObject {
  /// Fills the start of `buffer` and returns how many bytes it wrote; 0 means the end.
  func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// An input file could not be read; names the file and what went wrong.
public struct InputError: Error, CustomStringConvertible {
  /// The file.
  public var path: String
  /// What went wrong, with the line or byte offset where known.
  public var message: String

  /// Creates an error for `path`.
  public init(path: String, message: String) {
    self.path = path
    self.message = message
  }

  public var description: String { "\(path): \(message)" }
}

/// Reads a file through its descriptor.
package final class FileByteSource: ByteSource {
  let path: String
  private let descriptor: Int32

  /// Opens `path` for reading.
  package init(path: String) throws {
    self.path = path
    descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else {
      throw InputError(path: path, message: "cannot open: \(String(cString: strerror(errno)))")
    }
  }

  deinit { close(descriptor) }

  package func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    while true {
      let count = Foundation.read(descriptor, buffer.baseAddress, buffer.count)
      if count >= 0 { return count }
      if errno != EINTR {
        throw InputError(path: path, message: "read failed: \(String(cString: strerror(errno)))")
      }
    }
  }

  /// The file's size in bytes (for progress and ETA).
  package var size: Int {
    var info = stat()
    return fstat(descriptor, &info) == 0 ? Int(info.st_size) : 0
  }

  /// Bytes read so far (the descriptor's position).
  package var position: Int { Int(lseek(descriptor, 0, SEEK_CUR)) }
}

/// Decompresses a zstd stream (one or more frames) with `ZSTD_decompressStream`.
package final class ZstdByteSource: ByteSource {
  private let source: FileByteSource
  private let stream: OpaquePointer
  private var input: [UInt8]
  private var inputStart = 0
  private var inputEnd = 0
  private var sourceEnded = false
  /// `ZSTD_decompressStream`'s last hint: 0 when the last frame ended cleanly.
  private var frameRemainder = 0

  /// Decompresses what `source` yields.
  package init(source: FileByteSource) throws {
    self.source = source
    guard let stream = ZSTD_createDStream() else {
      throw InputError(path: source.path, message: "cannot create a zstd stream")
    }
    self.stream = stream
    ZSTD_initDStream(stream)
    input = [UInt8](repeating: 0, count: ZSTD_DStreamInSize())
  }

  deinit { ZSTD_freeDStream(stream) }

  package func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
    var output = ZSTD_outBuffer(dst: buffer.baseAddress, size: buffer.count, pos: 0)
    while output.pos == 0 {
      if inputStart == inputEnd {
        if sourceEnded { break }
        let count = try input.withUnsafeMutableBytes { try source.read(into: $0) }
        if count == 0 {
          sourceEnded = true
          if frameRemainder != 0 {
            throw InputError(path: source.path, message: "truncated zstd stream")
          }
          break
        }
        inputStart = 0
        inputEnd = count
      }
      let hint = input.withUnsafeBytes { bytes in
        var chunk = ZSTD_inBuffer(
          src: bytes.baseAddress! + inputStart, size: inputEnd - inputStart, pos: 0)
        let hint = ZSTD_decompressStream(stream, &output, &chunk)
        inputStart += chunk.pos
        return hint
      }
      if ZSTD_isError(hint) != 0 {
        throw InputError(
          path: source.path, message: "zstd: \(String(cString: ZSTD_getErrorName(hint)))")
      }
      frameRemainder = hint
    }
    return output.pos
  }
}

extension FileByteSource {
  /// Opens `path`, decompressing it when it starts with the zstd magic number.
  package static func opening(_ path: String) throws -> (ByteSource, FileByteSource) {
    let file = try FileByteSource(path: path)
    var magic = [UInt8](repeating: 0, count: 4)
    let count = try magic.withUnsafeMutableBytes { try file.read(into: $0) }
    _ = lseek(file.descriptorForRewind, 0, SEEK_SET)
    if count == 4 && magic == [0x28, 0xB5, 0x2F, 0xFD] {
      return (try ZstdByteSource(source: file), file)
    }
    return (file, file)
  }

  fileprivate var descriptorForRewind: Int32 { descriptor }
}
