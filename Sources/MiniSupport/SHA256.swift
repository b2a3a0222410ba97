internal import COpenSSL

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// SHA-256 through OpenSSL's libcrypto (its EVP digest interface), with hex helpers. Names the
/// tokenizer a token shard was made with and checksums checkpoint files.
///
/// Feed bytes with `update` as they arrive, then `finalize()`; the one-shot helpers hash a
/// buffer or a whole file.
package struct SHA256: ~Copyable {
  private let context: OpaquePointer

  /// A hasher that has seen no bytes.
  package init() {
    guard let context = EVP_MD_CTX_new() else {
      preconditionFailure("SHA256: EVP_MD_CTX_new failed (out of memory)")
    }
    guard EVP_DigestInit_ex(context, EVP_sha256(), nil) == 1 else {
      EVP_MD_CTX_free(context)
      preconditionFailure("SHA256: libcrypto has no SHA-256 (EVP_DigestInit_ex failed)")
    }
    self.context = context
  }

  deinit { EVP_MD_CTX_free(context) }

  /// Feeds more bytes.
  package mutating func update(_ bytes: UnsafeRawBufferPointer) {
    guard let base = bytes.baseAddress, !bytes.isEmpty else { return }
    let status = EVP_DigestUpdate(context, base, bytes.count)
    precondition(status == 1, "SHA256: EVP_DigestUpdate failed")
  }

  /// Feeds more bytes.
  package mutating func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { update($0) }
  }

  /// The 32-byte digest of everything fed so far.
  package consuming func finalize() -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    let status = digest.withUnsafeMutableBufferPointer {
      EVP_DigestFinal_ex(context, $0.baseAddress, &length)
    }
    precondition(status == 1 && length == 32, "SHA256: EVP_DigestFinal_ex failed")
    return Array(digest.prefix(32))
  }

  /// The 32-byte digest of `bytes`.
  package static func digest(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
    var hasher = SHA256()
    hasher.update(bytes)
    return hasher.finalize()
  }

  /// Lower-case hex SHA-256 of `bytes`.
  package static func hex(of bytes: [UInt8]) -> String {
    hex(bytes.withUnsafeBytes { digest($0) })
  }

  /// Lower-case hex SHA-256 of the file at `path`, read in `chunkSize`-byte pieces so that a
  /// file of any size hashes in constant memory.
  /// - Throws: `SystemCallError` when the file cannot be opened or read.
  package static func hex(ofFile path: String, chunkSize: Int = 1 << 20) throws -> String {
    precondition(chunkSize > 0, "SHA256.hex(ofFile:): chunkSize \(chunkSize)")
    let descriptor = open(path, O_RDONLY | O_CLOEXEC)
    guard descriptor >= 0 else { throw SystemCallError("open", path: path) }
    defer { close(descriptor) }
    var hasher = SHA256()
    let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 64)
    defer { buffer.deallocate() }
    while true {
      let count = read(descriptor, buffer.baseAddress, chunkSize)
      if count < 0 {
        if errno == EINTR { continue }
        throw SystemCallError("read", path: path)
      }
      if count == 0 { break }
      hasher.update(UnsafeRawBufferPointer(rebasing: buffer[..<count]))
    }
    return hex(hasher.finalize())
  }

  /// Lower-case hex of a digest.
  package static func hex(_ digest: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var text = [UInt8]()
    text.reserveCapacity(digest.count * 2)
    for byte in digest {
      text.append(digits[Int(byte >> 4)])
      text.append(digits[Int(byte & 15)])
    }
    return String(decoding: text, as: UTF8.self)
  }
}
