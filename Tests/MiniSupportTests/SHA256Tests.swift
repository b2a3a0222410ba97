import Foundation
import MiniSupport
import Testing

@Suite("SHA256")
struct SHA256Tests {
  /// FIPS 180-2 / NIST test vectors.
  static let vectors: [(message: String, digest: String)] = [
    ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
    ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
    (
      "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
      "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
    ),
  ]

  @Test("Known vectors, one shot")
  func knownVectors() {
    for (message, digest) in Self.vectors {
      #expect(SHA256.hex(of: Array(message.utf8)) == digest, "\(message)")
    }
    let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
    #expect(
      SHA256.hex(of: million) == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
  }

  @Test("Bytes fed in pieces hash as one shot")
  func incremental() {
    let bytes = (0..<10_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 7) }
    for piece in [1, 7, 63, 64, 65, 4_096] {
      var hasher = SHA256()
      for start in stride(from: 0, to: bytes.count, by: piece) {
        hasher.update(Array(bytes[start..<min(start + piece, bytes.count)]))
      }
      #expect(SHA256.hex(hasher.finalize()) == SHA256.hex(of: bytes), "pieces of \(piece)")
    }
    var empty = SHA256()
    empty.update([])
    #expect(SHA256.hex(empty.finalize()) == Self.vectors[0].digest)
    let digest = bytes.withUnsafeBytes { SHA256.digest($0) }
    #expect(digest.count == 32 && SHA256.hex(digest) == SHA256.hex(of: bytes))
  }

  @Test("A file hashed in chunks equals the bytes hashed in one shot")
  func file() throws {
    let folder = try ScratchFolder()
    defer { folder.remove() }
    var generator = SystemRandomNumberGenerator()
    let bytes = (0..<(3 << 20) + 12_345).map { _ in UInt8.random(in: 0...255, using: &generator) }
    let path = folder.file("data.bin")
    #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
    let expected = SHA256.hex(of: bytes)
    for chunkSize in [1_000, 4_096, 1 << 20, 8 << 20] {
      #expect(try SHA256.hex(ofFile: path, chunkSize: chunkSize) == expected, "\(chunkSize)")
    }
    #expect(try SHA256.hex(ofFile: path) == expected)

    let empty = folder.file("empty")
    #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
    #expect(try SHA256.hex(ofFile: empty) == Self.vectors[0].digest)
    #expect(throws: SystemCallError.self) { try SHA256.hex(ofFile: folder.file("absent")) }
  }
}
