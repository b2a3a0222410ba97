/// Whether `bytes` is well-formed UTF-8 (no overlong forms, no surrogates, nothing past
/// U+10FFFF); returns the offset of the first bad byte, or `nil` when all is well.
package func firstInvalidUTF8(in bytes: UnsafeRawBufferPointer) -> Int? {
  let count = bytes.count
  var i = 0
  while i < count {
    // ASCII fast path, eight bytes at a time.
    while i + 8 <= count {
      let word = bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)
      if word & 0x8080_8080_8080_8080 != 0 { break }
      i += 8
    }
    guard i < count else { return nil }
    let lead = bytes[i]
    if lead < 0x80 {
      i += 1
      continue
    }
    let length: Int
    var lower: UInt8 = 0x80
    var upper: UInt8 = 0xBF
    switch lead {
    case 0xC2...0xDF: length = 2
    case 0xE0:
      length = 3
      lower = 0xA0
    case 0xE1...0xEC, 0xEE...0xEF: length = 3
    case 0xED:
      length = 3
      upper = 0x9F
    case 0xF0:
      length = 4
      lower = 0x90
    case 0xF1...0xF3: length = 4
    case 0xF4:
      length = 4
      upper = 0x8F
    default: return i
    }
    guard i + length <= count else { return i }
    let second = bytes[i + 1]
    guard second >= lower && second <= upper else { return i }
    for j in 2..<length where bytes[i + j] & 0xC0 != 0x80 { return i }
    i += length
  }
  return nil
}
