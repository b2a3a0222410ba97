/// The storage type of a GGUF tensor (`ggml_type`); the ones MiniLLM writes and reads.
public enum GGMLType: UInt32, Sendable, CaseIterable {
  /// 32-bit IEEE floats.
  case f32 = 0
  /// 16-bit IEEE floats.
  case f16 = 1
  /// Blocks of 32 values: a `Float16` scale `d` then 32 `Int8` `q`, value = `d·q`.
  case q8_0 = 8

  /// The name llama.cpp prints (`"f32"`, `"f16"`, `"q8_0"`).
  public var name: String {
    switch self {
    case .f32: "f32"
    case .f16: "f16"
    case .q8_0: "q8_0"
    }
  }

  /// Values per block (1 for the float types).
  public var blockSize: Int { self == .q8_0 ? Q8_0.blockSize : 1 }

  /// Bytes per block.
  public var blockByteCount: Int {
    switch self {
    case .f32: 4
    case .f16: 2
    case .q8_0: Q8_0.blockByteCount
    }
  }

  /// Bytes of a row of `count` values.
  /// - Precondition: `count` is a multiple of `blockSize`.
  public func rowByteCount(_ count: Int) -> Int {
    precondition(count % blockSize == 0, "\(name): row of \(count) is not whole blocks")
    return count / blockSize * blockByteCount
  }

  /// Encodes `values` (a whole number of blocks) into `output`, which has
  /// `rowByteCount(values.count)` bytes.
  public func encode(
    _ values: UnsafeBufferPointer<Float>, into output: UnsafeMutableRawBufferPointer
  ) {
    precondition(
      output.count == rowByteCount(values.count),
      "\(name) encode: \(values.count) values into \(output.count) bytes")
    switch self {
    case .f32:
      for (i, value) in values.enumerated() {
        output.storeBytes(of: value.bitPattern.littleEndian, toByteOffset: 4 * i, as: UInt32.self)
      }
    case .f16:
      for (i, value) in values.enumerated() {
        output.storeBytes(
          of: Float16(value).bitPattern.littleEndian, toByteOffset: 2 * i, as: UInt16.self)
      }
    case .q8_0:
      Q8_0.quantize(values, into: output)
    }
  }

  /// Decodes `count` values from `bytes` (dequantizing `q8_0`).
  public func decode(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
    precondition(
      bytes.count == rowByteCount(count),
      "\(name) decode: \(count) values from \(bytes.count) bytes"
    )
    switch self {
    case .f32:
      return (0..<count).map {
        Float(
          bitPattern: UInt32(
            littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self)))
      }
    case .f16:
      return (0..<count).map {
        Float(
          Float16(
            bitPattern: UInt16(
              littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self))))
      }
    case .q8_0:
      return Q8_0.dequantize(bytes, count: count)
    }
  }
}

/// ggml's `Q8_0` format, bit for bit as `quantize_row_q8_0_ref` in `ggml-quants.c` (and the
/// Python `gguf` package) computes it.
public enum Q8_0 {
  /// Values per block.
  public static let blockSize = 32
  /// Bytes per block: a `Float16` scale and 32 `Int8`.
  public static let blockByteCount = 2 + 32

  /// Quantizes whole blocks: for each block `d = max|x| / 127` (in `Float`), `q = round(x / d)`
  /// computed as `x · (1/d)` rounded half away from zero (`roundf`), and `d` stored as `Float16`
  /// (round to nearest even). A block of zeros gets `d = 0` and `q = 0`.
  public static func quantize(
    _ values: UnsafeBufferPointer<Float>, into output: UnsafeMutableRawBufferPointer
  ) {
    precondition(
      values.count % blockSize == 0 && output.count == values.count / blockSize * blockByteCount,
      "q8_0: \(values.count) values into \(output.count) bytes")
    for block in 0..<values.count / blockSize {
      let start = block * blockSize
      var amax: Float = 0
      for j in 0..<blockSize { amax = max(amax, abs(values[start + j])) }
      let d = amax / 127
      let id: Float = d != 0 ? 1 / d : 0
      let base = block * blockByteCount
      output.storeBytes(of: Float16(d).bitPattern.littleEndian, toByteOffset: base, as: UInt16.self)
      for j in 0..<blockSize {
        let r = (values[start + j] * id).rounded(.toNearestOrAwayFromZero)
        // |x·(1/d)| ≤ 127 for finite weights; the clamp only guards subnormal scales.
        let q: Int8 = r.isNaN ? 0 : Int8(max(-127, min(127, r)))
        output.storeBytes(of: UInt8(bitPattern: q), toByteOffset: base + 2 + j, as: UInt8.self)
      }
    }
  }

  /// Dequantizes whole blocks: `d · q` in `Float`.
  public static func dequantize(_ bytes: UnsafeRawBufferPointer, count: Int) -> [Float] {
    precondition(
      count % blockSize == 0 && bytes.count == count / blockSize * blockByteCount,
      "q8_0: \(count) values from \(bytes.count) bytes")
    var result = [Float](repeating: 0, count: count)
    for block in 0..<count / blockSize {
      let base = block * blockByteCount
      let d = Float(
        Float16(
          bitPattern: UInt16(
            littleEndian: bytes.loadUnaligned(fromByteOffset: base, as: UInt16.self))
        ))
      for j in 0..<blockSize {
        let q = Int8(bitPattern: bytes[base + 2 + j])
        result[block * blockSize + j] = d * Float(q)
      }
    }
    return result
  }
}
