import Crypto

/// SHA-256 through swift-crypto, with hex helpers. Names the tokenizer a token shard was made
/// with and checksums written files.
package struct SHA256 {
  private var hasher = Crypto.SHA256()

  package init() {}

  /// Feeds more bytes.
  package mutating func update(_ bytes: UnsafeRawBufferPointer) {
    hasher.update(bufferPointer: bytes)
  }

  /// Feeds more bytes.
  package mutating func update(_ bytes: [UInt8]) {
    bytes.withUnsafeBytes { hasher.update(bufferPointer: $0) }
  }

  /// The 32-byte digest of everything fed so far.
  package consuming func finalize() -> [UInt8] {
    Array(hasher.finalize())
  }

  /// Lower-case hex SHA-256 of `bytes`.
  package static func hex(of bytes: [UInt8]) -> String {
    hex(Array(Crypto.SHA256.hash(data: bytes)))
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
