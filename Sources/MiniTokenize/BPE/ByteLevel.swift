/// GPT-2's byte-level alphabet: every byte is shown as one printable character, so a BPE
/// vocabulary over bytes can be stored as strings (`Ġ` for a space, `Ċ` for a newline), as
/// Hugging Face `tokenizers` and llama.cpp store it.
enum ByteLevel {
  /// The character of each byte: printable Latin-1 bytes stand for themselves, the others
  /// (control bytes, space, `0x7F`–`0xA0`, `0xAD`) for `U+0100` onwards in byte order.
  static let characters: [Unicode.Scalar] = {
    var table = [Unicode.Scalar](repeating: " ", count: 256)
    var next: UInt32 = 256
    for byte in 0..<256 {
      let printable =
        (0x21...0x7E).contains(byte) || (0xA1...0xAC).contains(byte)
        || (0xAE...0xFF).contains(byte)
      if printable {
        table[byte] = Unicode.Scalar(UInt32(byte))!
      } else {
        table[byte] = Unicode.Scalar(next)!
        next += 1
      }
    }
    return table
  }()

  /// The byte of each character of the alphabet.
  static let bytes: [Unicode.Scalar: UInt8] = {
    var table: [Unicode.Scalar: UInt8] = [:]
    for (byte, character) in characters.enumerated() { table[character] = UInt8(byte) }
    return table
  }()

  /// The alphabet string of `bytes` (`"Ġhello"` for `" hello"`).
  static func string<C: Collection>(of bytes: C) -> String where C.Element == UInt8 {
    var scalars = String.UnicodeScalarView()
    for byte in bytes { scalars.append(characters[Int(byte)]) }
    return String(scalars)
  }

  /// The bytes a token string stands for, or `nil` when a character is outside the alphabet
  /// (an added token such as `<|im start|>` with a plain space).
  static func decoded(_ token: String) -> [UInt8]? {
    var result: [UInt8] = []
    result.reserveCapacity(token.utf8.count)
    for scalar in token.unicodeScalars {
      guard let byte = bytes[scalar] else { return nil }
      result.append(byte)
    }
    return result
  }
}
