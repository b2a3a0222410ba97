/// The type code of a GGUF metadata value (`gguf_type` in ggml's `gguf.h`).
public enum GGUFValueType: UInt32, Sendable, CaseIterable {
  case uint8 = 0
  case int8 = 1
  case uint16 = 2
  case int16 = 3
  case uint32 = 4
  case int32 = 5
  case float32 = 6
  case bool = 7
  case string = 8
  case array = 9
  case uint64 = 10
  case int64 = 11
  case float64 = 12

  /// Bytes of one value of a fixed-size type; `nil` for strings and arrays.
  public var fixedSize: Int? {
    switch self {
    case .uint8, .int8, .bool: 1
    case .uint16, .int16: 2
    case .uint32, .int32, .float32: 4
    case .uint64, .int64, .float64: 8
    case .string, .array: nil
    }
  }
}

/// A GGUF metadata value. Arrays hold elements of one type, given by `elementType`.
public enum GGUFValue: Sendable, Equatable {
  case uint8(UInt8)
  case int8(Int8)
  case uint16(UInt16)
  case int16(Int16)
  case uint32(UInt32)
  case int32(Int32)
  case float32(Float)
  case bool(Bool)
  case string(String)
  case uint64(UInt64)
  case int64(Int64)
  case float64(Double)
  /// Elements that all have type `elementType`.
  indirect case array(elementType: GGUFValueType, [GGUFValue])

  /// The type code written before the value.
  public var type: GGUFValueType {
    switch self {
    case .uint8: .uint8
    case .int8: .int8
    case .uint16: .uint16
    case .int16: .int16
    case .uint32: .uint32
    case .int32: .int32
    case .float32: .float32
    case .bool: .bool
    case .string: .string
    case .uint64: .uint64
    case .int64: .int64
    case .float64: .float64
    case .array: .array
    }
  }

  /// An array of strings.
  public static func strings(_ values: [String]) -> GGUFValue {
    .array(elementType: .string, values.map { .string($0) })
  }

  /// An array of 32-bit floats.
  public static func float32s(_ values: [Float]) -> GGUFValue {
    .array(elementType: .float32, values.map { .float32($0) })
  }

  /// An array of 32-bit signed integers.
  public static func int32s(_ values: [Int32]) -> GGUFValue {
    .array(elementType: .int32, values.map { .int32($0) })
  }

  /// Bytes this value takes in a file (without its type code).
  public var encodedByteCount: Int {
    switch self {
    case .string(let text): return 8 + text.utf8.count
    case .array(_, let elements):
      return 4 + 8 + elements.reduce(0) { $0 + $1.encodedByteCount }
    default: return type.fixedSize!
    }
  }

  /// The string, when this is one.
  public var stringValue: String? {
    if case .string(let text) = self { return text }
    return nil
  }

  /// The value as an integer, when it is one of the integer types.
  public var integerValue: Int? {
    switch self {
    case .uint8(let v): Int(v)
    case .int8(let v): Int(v)
    case .uint16(let v): Int(v)
    case .int16(let v): Int(v)
    case .uint32(let v): Int(v)
    case .int32(let v): Int(v)
    case .uint64(let v): Int(exactly: v)
    case .int64(let v): Int(v)
    default: nil
    }
  }

  /// The value as a `Double`, when it is a float.
  public var floatingValue: Double? {
    switch self {
    case .float32(let v): Double(v)
    case .float64(let v): v
    default: nil
    }
  }

  /// The elements, when this is an array.
  public var arrayValue: [GGUFValue]? {
    if case .array(_, let elements) = self { return elements }
    return nil
  }
}
