/// An element type of a safetensors file that MiniTensor reads and writes.
///
/// The raw values are the spellings used in the file header.
public enum SafeTensorsDType: String, CaseIterable, Sendable {
  /// IEEE 754 binary32.
  case f32 = "F32"
  /// IEEE 754 binary16.
  case f16 = "F16"
  /// bfloat16: the upper 16 bits of a binary32.
  case bf16 = "BF16"
  /// Signed 32-bit integer.
  case i32 = "I32"
  /// Signed 64-bit integer.
  case i64 = "I64"
  /// Unsigned 8-bit integer.
  case u8 = "U8"

  /// Bytes per element.
  public var elementSize: Int {
    switch self {
    case .u8: 1
    case .f16, .bf16: 2
    case .f32, .i32: 4
    case .i64: 8
    }
  }

  /// Whether the elements are integers.
  public var isInteger: Bool {
    switch self {
    case .i32, .i64, .u8: true
    case .f32, .f16, .bf16: false
    }
  }

  /// Position in the reference implementation's dtype order (`BOOL, U8, I8, F8_E5M2, F8_E4M3,
  /// I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64`); its writer puts higher ranks first,
  /// which keeps every tensor aligned to its element size.
  var referenceRank: Int {
    switch self {
    case .u8: 1
    case .f16: 7
    case .bf16: 8
    case .i32: 9
    case .f32: 11
    case .i64: 13
    }
  }
}

/// Conversions between `Float` and the 16-bit float formats.
enum HalfPrecision {
  /// bfloat16 bits of `value`, rounded to nearest even; NaN stays a quiet NaN with its sign.
  @inline(__always)
  static func bfloat16Bits(_ value: Float) -> UInt16 {
    let bits = value.bitPattern
    if value.isNaN { return UInt16(truncatingIfNeeded: (bits >> 16) | 0x0040) }
    let roundingBias: UInt32 = 0x7FFF &+ ((bits >> 16) & 1)
    return UInt16(truncatingIfNeeded: (bits &+ roundingBias) >> 16)
  }

  /// The `Float` with bfloat16 bits `bits`.
  @inline(__always)
  static func float(bfloat16Bits bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
  }

  /// IEEE binary16 bits of `value`, rounded to nearest even (overflow gives infinity).
  @inline(__always)
  static func float16Bits(_ value: Float) -> UInt16 { Float16(value).bitPattern }

  /// The `Float` with binary16 bits `bits`.
  @inline(__always)
  static func float(float16Bits bits: UInt16) -> Float { Float(Float16(bitPattern: bits)) }
}
