/// Little-endian element conversions between file bytes and `Float`.
extension SafeTensorsDType {
  /// Converts `count` elements of this dtype stored little-endian at `source` (any alignment) to
  /// `Float` (64-bit integers beyond 2^24 round to the nearest `Float`).
  func decode(_ source: UnsafeRawPointer, count: Int, into destination: UnsafeMutablePointer<Float>)
  {
    switch self {
    case .f32:
      #if _endian(little)
        UnsafeMutableRawPointer(destination).copyMemory(from: source, byteCount: count * 4)
      #else
        for i in 0..<count {
          let bits = UInt32(
            littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
          destination[i] = Float(bitPattern: bits)
        }
      #endif
    case .f16:
      for i in 0..<count {
        let bits = UInt16(
          littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        destination[i] = HalfPrecision.float(float16Bits: bits)
      }
    case .bf16:
      for i in 0..<count {
        let bits = UInt16(
          littleEndian: source.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))
        destination[i] = HalfPrecision.float(bfloat16Bits: bits)
      }
    case .i32:
      for i in 0..<count {
        destination[i] = Float(
          Int32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)))
      }
    case .i64:
      for i in 0..<count {
        destination[i] = Float(
          Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)))
      }
    case .u8:
      for i in 0..<count { destination[i] = Float(source.load(fromByteOffset: i, as: UInt8.self)) }
    }
  }

  /// Converts `count` integer elements of this dtype at `source` to `Int64`.
  /// - Precondition: the dtype is an integer type.
  func decodeIntegers(_ source: UnsafeRawPointer, count: Int) -> [Int64] {
    switch self {
    case .i32:
      (0..<count).map {
        Int64(Int32(littleEndian: source.loadUnaligned(fromByteOffset: 4 * $0, as: Int32.self)))
      }
    case .i64:
      (0..<count).map {
        Int64(littleEndian: source.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self))
      }
    case .u8:
      (0..<count).map { Int64(source.load(fromByteOffset: $0, as: UInt8.self)) }
    case .f32, .f16, .bf16:
      preconditionFailure("decodeIntegers: \(rawValue) is not an integer dtype")
    }
  }

  /// Converts `source` to this dtype, little-endian, into `destination`
  /// (`source.count * elementSize` bytes).
  ///
  /// Floats round to nearest even; integers must be exact.
  /// - Returns: the index of the first element that the integer dtype cannot hold exactly, or
  ///   `nil` when all were converted.
  func encode(_ source: UnsafeBufferPointer<Float>, into destination: UnsafeMutableRawPointer)
    -> Int?
  {
    switch self {
    case .f32:
      for (i, value) in source.enumerated() {
        destination.storeBytes(
          of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
      }
    case .f16:
      for (i, value) in source.enumerated() {
        destination.storeBytes(
          of: HalfPrecision.float16Bits(value).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
      }
    case .bf16:
      for (i, value) in source.enumerated() {
        destination.storeBytes(
          of: HalfPrecision.bfloat16Bits(value).littleEndian, toByteOffset: 2 * i, as: UInt16.self)
      }
    case .i32:
      for (i, value) in source.enumerated() {
        guard let integer = Int32(exactly: value) else { return i }
        destination.storeBytes(of: integer.littleEndian, toByteOffset: 4 * i, as: Int32.self)
      }
    case .i64:
      for (i, value) in source.enumerated() {
        guard let integer = Int64(exactly: value) else { return i }
        destination.storeBytes(of: integer.littleEndian, toByteOffset: 8 * i, as: Int64.self)
      }
    case .u8:
      for (i, value) in source.enumerated() {
        guard let integer = UInt8(exactly: value) else { return i }
        destination.storeBytes(of: integer, toByteOffset: i, as: UInt8.self)
      }
    }
    return nil
  }
}
