import Foundation

/// Buffered reading over a `ByteSource`: whole lines for line-based formats, and chunks for the
/// streaming JSON-array splitter. Memory stays at the longest line (or array
/// element) plus one chunk.
package final class BufferedInput {
  private let source: ByteSource
  private var buffer: UnsafeMutableRawBufferPointer
  private var start = 0
  private var end = 0
  private var ended = false
  /// Number of the line the next `nextLine()` returns (1-based).
  package private(set) var lineNumber = 0
  /// Bytes consumed so far (of the decompressed stream).
  package private(set) var consumed = 0

  /// Buffers `source` in chunks of `chunkSize` bytes.
  package init(source: ByteSource, chunkSize: Int = 1 << 20) {
    self.source = source
    buffer = .allocate(byteCount: max(chunkSize, 16), alignment: 8)
  }

  deinit { buffer.deallocate() }

  /// The next line without its `\n` (and without a trailing `\r`), valid until the next call;
  /// `nil` at the end.
  package func nextLine() throws -> UnsafeRawBufferPointer? {
    var scannedCount = 0
    while true {
      if let newline = find(UInt8(ascii: "\n"), from: start + scannedCount) {
        return trimmingCarriageReturn(take(upTo: newline, skipping: 1))
      }
      scannedCount = end - start
      if try !fill() {
        if start == end { return nil }
        return trimmingCarriageReturn(take(upTo: end, skipping: 0))
      }
    }
  }

  /// All bytes buffered or readable next (at least one), consumed by this call and valid until
  /// the next one; `nil` at the end.
  package func nextChunk() throws -> UnsafeRawBufferPointer? {
    if start == end, try !fill() { return nil }
    let chunk = UnsafeRawBufferPointer(rebasing: buffer[start..<end])
    consumed += end - start
    start = end
    return chunk
  }

  private func find(_ target: UInt8, from position: Int) -> Int? {
    guard position < end else { return nil }
    let base = buffer.baseAddress! + position
    guard let hit = memchr(base, Int32(target), end - position) else { return nil }
    return position + (UnsafeRawPointer(hit) - UnsafeRawPointer(base))
  }

  private func take(upTo position: Int, skipping: Int) -> UnsafeRawBufferPointer {
    let line = UnsafeRawBufferPointer(rebasing: buffer[start..<position])
    consumed += position + skipping - start
    start = position + skipping
    lineNumber += 1
    return line
  }

  private func trimmingCarriageReturn(_ line: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
    if let last = line.last, last == UInt8(ascii: "\r") {
      return UnsafeRawBufferPointer(rebasing: line.dropLast())
    }
    return line
  }

  /// Reads more bytes after `end`, first moving the unconsumed bytes to the front and growing
  /// the buffer when it is full. Returns false at the end of the source.
  private func fill() throws -> Bool {
    if ended { return false }
    let keep = start
    if keep > 0 {
      if end > keep {
        buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + keep, byteCount: end - keep)
      }
      end -= keep
      start -= keep
    }
    if end == buffer.count {
      let grown = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 8)
      grown.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: end)
      buffer.deallocate()
      buffer = grown
    }
    let count = try source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[end...]))
    if count == 0 {
      ended = true
      return false
    }
    end += count
    return true
  }
}
