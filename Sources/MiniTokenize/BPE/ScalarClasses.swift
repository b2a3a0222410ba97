/// The scalars of a UTF-8 text with the classes the split patterns test (`\p{L}`, `\p{N}`,
/// `\s`, `[\r\n]`), decoded once per piece into reusable arrays.
struct ScalarClasses {
  /// A scalar's class.
  enum Kind: UInt8 {
    /// Neither a letter, a number nor white space (`[^\s\p{L}\p{N}]`).
    case other
    /// `\p{L}`: general categories Lu, Ll, Lt, Lm, Lo.
    case letter
    /// `\p{N}`: general categories Nd, Nl, No.
    case number
    /// `\s` (Unicode White_Space) other than `\r` and `\n`.
    case space
    /// `\r` or `\n`.
    case newline

    var isWhitespace: Bool { self == .space || self == .newline }
  }

  /// Byte offset of each scalar, then the end offset.
  var offsets: [Int] = []
  /// Each scalar's value.
  var values: [UInt32] = []
  /// Each scalar's class.
  var kinds: [Kind] = []

  var count: Int { values.count }

  private static let ascii: [Kind] = (0..<128).map { byte in
    switch UInt8(byte) {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"): .letter
    case UInt8(ascii: "0")...UInt8(ascii: "9"): .number
    case 0x0A, 0x0D: .newline
    case 0x09, 0x0B, 0x0C, 0x20: .space
    default: .other
    }
  }

  /// The class of `value`.
  static func kind(of value: UInt32) -> Kind {
    if value < 128 { return ascii[Int(value)] }
    guard let scalar = Unicode.Scalar(value) else { return .other }
    switch scalar.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter:
      return .letter
    case .decimalNumber, .letterNumber, .otherNumber:
      return .number
    default:
      return scalar.properties.isWhitespace ? .space : .other
    }
  }

  /// Decodes `bytes[range]`, which must be well-formed UTF-8.
  mutating func load(_ bytes: UnsafeBufferPointer<UInt8>, _ range: Range<Int>) {
    offsets.removeAll(keepingCapacity: true)
    values.removeAll(keepingCapacity: true)
    kinds.removeAll(keepingCapacity: true)
    var index = range.lowerBound
    while index < range.upperBound {
      let lead = bytes[index]
      var value: UInt32
      var length: Int
      if lead < 0x80 {
        offsets.append(index)
        values.append(UInt32(lead))
        kinds.append(Self.ascii[Int(lead)])
        index += 1
        continue
      } else if lead < 0xE0 {
        value = UInt32(lead & 0x1F)
        length = 2
      } else if lead < 0xF0 {
        value = UInt32(lead & 0x0F)
        length = 3
      } else {
        value = UInt32(lead & 0x07)
        length = 4
      }
      for next in 1..<length where index + next < range.upperBound {
        value = value << 6 | UInt32(bytes[index + next] & 0x3F)
      }
      offsets.append(index)
      values.append(value)
      kinds.append(Self.kind(of: value))
      index += length
    }
    offsets.append(range.upperBound)
  }
}
