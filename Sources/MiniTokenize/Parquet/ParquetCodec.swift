internal import CSnappy
internal import CZlib
internal import CZstd

/// Decompresses Parquet pages: UNCOMPRESSED, SNAPPY (libsnappy), GZIP (zlib) and ZSTD
/// (libzstd), each into exactly the page header's uncompressed size.
enum ParquetCodec {
  struct Failure: Error {
    var message: String
  }

  /// Codec names by `CompressionCodec` value.
  static let names = [
    0: "UNCOMPRESSED", 1: "SNAPPY", 2: "GZIP", 3: "LZO", 4: "BROTLI", 5: "LZ4", 6: "ZSTD",
    7: "LZ4_RAW",
  ]

  /// Pages larger than this are refused rather than allocated (a corrupt header's size).
  static let pageSizeLimit = 1 << 30

  static func decompress(_ input: UnsafeRawBufferPointer, codec: Int32, uncompressedSize: Int)
    throws(Failure) -> [UInt8]
  {
    guard uncompressedSize >= 0, uncompressedSize <= pageSizeLimit else {
      throw Failure(message: "uncompressed page size \(uncompressedSize) is out of range")
    }
    switch codec {
    case 0:
      guard input.count == uncompressedSize else {
        throw Failure(
          message: "an uncompressed page of \(input.count) bytes says \(uncompressedSize)")
      }
      return Array(input)
    case 1: return try snappy(input, size: uncompressedSize)
    case 2: return try gzip(input, size: uncompressedSize)
    case 6: return try zstd(input, size: uncompressedSize)
    default:
      throw Failure(
        message: "codec \(names[Int(codec)] ?? String(codec)) is not supported "
          + "(UNCOMPRESSED, SNAPPY, GZIP and ZSTD are)")
    }
  }

  private static func snappy(_ input: UnsafeRawBufferPointer, size: Int) throws(Failure)
    -> [UInt8]
  {
    guard let base = input.baseAddress?.assumingMemoryBound(to: CChar.self) else {
      throw Failure(message: "an empty SNAPPY page")
    }
    var length = 0
    guard snappy_uncompressed_length(base, input.count, &length) == SNAPPY_OK,
      length == size
    else {
      throw Failure(message: "corrupt SNAPPY page (its length is not the header's \(size))")
    }
    var output = [UInt8](repeating: 0, count: size)
    var produced = size
    let status = output.withUnsafeMutableBytes { buffer in
      snappy_uncompress(
        base, input.count, buffer.baseAddress?.assumingMemoryBound(to: CChar.self), &produced)
    }
    guard status == SNAPPY_OK, produced == size else {
      throw Failure(message: "corrupt SNAPPY page")
    }
    return output
  }

  private static func zstd(_ input: UnsafeRawBufferPointer, size: Int) throws(Failure) -> [UInt8] {
    // The frame's own content size, when it records one, must agree before anything is allocated
    // (UInt64.max and UInt64.max - 1 are ZSTD_CONTENTSIZE_UNKNOWN and ZSTD_CONTENTSIZE_ERROR).
    let declared = ZSTD_getFrameContentSize(input.baseAddress, input.count)
    if declared == UInt64.max - 1 { throw Failure(message: "corrupt ZSTD page (no frame header)") }
    if declared != UInt64.max, declared != UInt64(size) {
      throw Failure(message: "a ZSTD page holds \(declared) bytes, not the header's \(size)")
    }
    var output = [UInt8](repeating: 0, count: size)
    let produced = output.withUnsafeMutableBytes { buffer in
      ZSTD_decompress(buffer.baseAddress, size, input.baseAddress, input.count)
    }
    guard ZSTD_isError(produced) == 0 else {
      throw Failure(
        message: "corrupt ZSTD page: \(String(cString: ZSTD_getErrorName(produced)))")
    }
    guard produced == size else {
      throw Failure(message: "a ZSTD page gives \(produced) bytes, not the header's \(size)")
    }
    return output
  }

  private static func gzip(_ input: UnsafeRawBufferPointer, size: Int) throws(Failure) -> [UInt8] {
    // Deflate expands at most about 1032 times.
    guard size <= input.count * 1032 + 64 else {
      throw Failure(message: "a GZIP page of \(input.count) bytes cannot hold \(size)")
    }
    var output = [UInt8](repeating: 0, count: size)
    var stream = z_stream()
    guard czlib_inflate_init_gzip(&stream) == Z_OK else {
      throw Failure(message: "cannot start zlib's inflate")
    }
    defer { inflateEnd(&stream) }
    let status = output.withUnsafeMutableBytes { buffer in
      stream.next_in = UnsafeMutablePointer(
        mutating: input.baseAddress?.assumingMemoryBound(to: Bytef.self))
      stream.avail_in = uInt(input.count)
      stream.next_out = buffer.baseAddress?.assumingMemoryBound(to: Bytef.self)
      stream.avail_out = uInt(size)
      return inflate(&stream, Z_FINISH)
    }
    guard status == Z_STREAM_END, Int(stream.total_out) == size else {
      throw Failure(message: "corrupt GZIP page (zlib status \(status))")
    }
    return output
  }
}
