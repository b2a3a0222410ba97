/// The storage type of a GGUF tensor (`ggml_type`): the ones MiniLLM reads (all of them) and
/// writes (``canEncode``: f32, f16, q8_0, q4_0, q4_1, q5_0, q4_K, q6_K).
public enum GGMLType: UInt32, Sendable, CaseIterable {
  /// 32-bit IEEE floats.
  case f32 = 0
  /// 16-bit IEEE floats.
  case f16 = 1
  /// Blocks of 32 4-bit values with a `Float16` scale (`(q − 8)·d`).
  case q4_0 = 2
  /// Blocks of 32 4-bit values with a scale and a minimum (`q·d + m`).
  case q4_1 = 3
  /// Blocks of 32 5-bit values with a scale (`(q − 16)·d`).
  case q5_0 = 6
  /// Blocks of 32 5-bit values with a scale and a minimum.
  case q5_1 = 7
  /// Blocks of 32 values: a `Float16` scale `d` then 32 `Int8` `q`, value = `d·q`.
  case q8_0 = 8
  /// Super-blocks of 256 2-bit values in 16 groups with 4-bit scales and minimums.
  case q2_K = 10
  /// Super-blocks of 256 3-bit values in 16 groups with 6-bit scales.
  case q3_K = 11
  /// Super-blocks of 256 4-bit values in 8 groups with 6-bit scales and minimums.
  case q4_K = 12
  /// Super-blocks of 256 5-bit values in 8 groups with 6-bit scales and minimums.
  case q5_K = 13
  /// Super-blocks of 256 6-bit values in 16 groups with 8-bit scales.
  case q6_K = 14
  /// bfloat16: the upper 16 bits of a `Float`.
  case bf16 = 30

  /// The name llama.cpp prints (`"f32"`, `"q4_K"`, …).
  public var name: String {
    switch self {
    case .f32: "f32"
    case .f16: "f16"
    case .bf16: "bf16"
    case .q4_0: "q4_0"
    case .q4_1: "q4_1"
    case .q5_0: "q5_0"
    case .q5_1: "q5_1"
    case .q8_0: "q8_0"
    case .q2_K: "q2_K"
    case .q3_K: "q3_K"
    case .q4_K: "q4_K"
    case .q5_K: "q5_K"
    case .q6_K: "q6_K"
    }
  }

  /// Values per block (1 for the float types).
  public var blockSize: Int {
    switch self {
    case .f32, .f16, .bf16: 1
    case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0: 32
    case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: 256
    }
  }

  /// Bytes per block.
  public var blockByteCount: Int {
    switch self {
    case .f32: 4
    case .f16, .bf16: 2
    case .q4_0: 18
    case .q4_1: 20
    case .q5_0: 22
    case .q5_1: 24
    case .q8_0: Q8_0.blockByteCount
    case .q2_K: 84
    case .q3_K: 110
    case .q4_K: 144
    case .q5_K: 176
    case .q6_K: 210
    }
  }

  /// Whether ``encode(_:into:)`` can write this type (the others are read only).
  public var canEncode: Bool {
    [.f32, .f16, .q8_0, .q4_0, .q4_1, .q5_0, .q4_K, .q6_K].contains(self)
  }

  /// Bytes of a row of `count` values.
  /// - Precondition: `count` is a multiple of `blockSize`.
  public func rowByteCount(_ count: Int) -> Int {
    precondition(count % blockSize == 0, "\(name): row of \(count) is not whole blocks")
    return count / blockSize * blockByteCount
  }

  /// Encodes `values` (a whole number of blocks) into `output`, which has
  /// `rowByteCount(values.count)` bytes. The block formats are quantized bit for bit as ggml's
  /// reference quantizers (`quantize_row_q4_0_ref`, …, `quantize_row_q6_K_ref`) do.
  /// - Precondition: ``canEncode``.
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
    case .q4_0:
      GGMLQuantize.q4_0(values, into: output)
    case .q4_1:
      GGMLQuantize.q4_1(values, into: output)
    case .q5_0:
      GGMLQuantize.q5_0(values, into: output)
    case .q4_K:
      GGMLQuantize.q4_K(values, into: output)
    case .q6_K:
      GGMLQuantize.q6_K(values, into: output)
    default:
      preconditionFailure("GGMLType.encode: \(name) is read only")
    }
  }

  /// Decodes `count` values from `bytes`, dequantising block formats exactly as ggml does.
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
    case .bf16:
      return (0..<count).map {
        Float(
          bitPattern: UInt32(
            UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: 2 * $0, as: UInt16.self)))
            << 16)
      }
    case .q8_0:
      return Q8_0.dequantize(bytes, count: count)
    default:
      return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
        GGMLDequantize.run(self, bytes, into: buffer)
        initialized = count
      }
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
