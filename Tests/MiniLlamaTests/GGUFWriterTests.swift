import Foundation
import MiniLlama
import MiniTensor
import TestSupport
import Testing

@Suite("GGUF writer and reader")
struct GGUFWriterTests {
  /// One value of every type, arrays included.
  static let allValues: [(String, GGUFValue)] = [
    ("test.u8", .uint8(200)), ("test.i8", .int8(-100)), ("test.u16", .uint16(60_000)),
    ("test.i16", .int16(-30_000)), ("test.u32", .uint32(4_000_000_000)),
    ("test.i32", .int32(-2_000_000_000)), ("test.f32", .float32(-1.5e-7)),
    ("test.bool.true", .bool(true)), ("test.bool.false", .bool(false)),
    ("test.string", .string("llama 骆驼 ▁<|im_end|>")), ("test.empty", .string("")),
    ("test.u64", .uint64(UInt64.max - 1)), ("test.i64", .int64(Int64.min + 1)),
    ("test.f64", .float64(3.141592653589793)),
    ("test.strings", .strings(["a", "", "▁词", "<0x0A>"])),
    ("test.floats", .float32s([-10_000, 0, 1.25])), ("test.ints", .int32s([1, 6, -3])),
    ("test.empty_array", .array(elementType: .uint8, [])),
  ]

  /// Values with awkward magnitudes, signs and exact halves.
  static func values(_ count: Int, seed: UInt64) -> [Float] {
    var rng = PhiloxRNG(seed: seed)
    var result = Tensor.randomNormal([count], using: &rng).scalars
    for i in stride(from: 0, to: count, by: 7) { result[i] *= 40 }
    if count > 3 { result[3] = 0 }
    return result
  }

  @Test(arguments: [32, 64, 1])
  func roundTripsMetadataAndTensors(alignment: Int) throws {
    var writer = GGUFWriter(alignment: alignment)
    for (key, value) in Self.allValues { writer.set(key, value) }
    writer.set("test.u8", .uint8(201))  // replaced in place, order kept
    let shapes: [(String, GGMLType, [Int])] = [
      ("one.weight", .f32, [5]), ("matrix.weight", .f16, [3, 7]), ("q8.weight", .q8_0, [3, 64]),
      ("cube.weight", .f32, [2, 3, 4]), ("q8.cube", .q8_0, [2, 2, 32]), ("f16.one", .f16, [1]),
    ]
    var inputs: [String: [Float]] = [:]
    for (index, (name, type, shape)) in shapes.enumerated() {
      let count = shape.reduce(1, *)
      inputs[name] = Self.values(count, seed: UInt64(index))
      writer.tensors.append(
        GGUFTensor(name: name, type: type, values: Tensor(inputs[name]!, shape: shape)))
    }
    let path = try temporaryDirectory("gguf-writer") + "/test.gguf"
    var seen: [String] = []
    let layout = try writer.write(to: path) { index, tensor in
      #expect(writer.tensors[index].name == tensor.name)
      seen.append(tensor.name)
    }
    #expect(seen == shapes.map(\.0))

    let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
    #expect(size == layout.fileSize)
    let reader = try GGUFReader(path: path)
    #expect(reader.version == 3)
    #expect(reader.fileSize == layout.fileSize)
    #expect(reader.alignment == alignment)
    #expect(reader.dataOffset == layout.dataOffset)
    #expect(reader.dataOffset % alignment == 0)

    var expectedKeys = Self.allValues.map(\.0)
    if alignment != 32 { expectedKeys.insert("general.alignment", at: 0) }
    #expect(reader.metadata.map(\.key) == expectedKeys)
    for (key, value) in Self.allValues {
      let expected = key == "test.u8" ? GGUFValue.uint8(201) : value
      #expect(reader.value(key) == expected, "\(key)")
    }
    if alignment != 32 { #expect(reader.value("general.alignment") == .uint32(UInt32(alignment))) }

    #expect(reader.tensors.map(\.name) == shapes.map(\.0))
    var end = 0
    for ((name, type, shape), info) in zip(shapes, reader.tensors) {
      #expect(info.type == type)
      #expect(info.dimensions == shape.reversed(), "ggml order is the reverse")
      #expect(info.offset % alignment == 0)
      #expect(info.offset == (end + alignment - 1) / alignment * alignment)
      end = info.offset + info.byteCount
      let input = inputs[name]!
      let bytes = reader.bytes(of: info)
      switch type {
      case .f32:
        #expect(bytes == input.flatMap { littleEndianBytes($0.bitPattern) })
        #expect(reader.values(of: info) == input)
      case .f16:
        #expect(bytes == input.flatMap { littleEndianBytes(Float16($0).bitPattern) })
        #expect(reader.values(of: info) == input.map { Float(Float16($0)) })
      case .q8_0:
        #expect(bytes == referenceQ8_0(input))
      default:
        Issue.record("\(name): the test writes f32, f16 and q8_0 only")
      }
    }
    #expect(reader.fileSize == reader.dataOffset + (end + alignment - 1) / alignment * alignment)
  }

  @Test func q8_0MatchesTheReferenceOnEdgeCases() throws {
    // amax 127 makes d = 1, so x·(1/d) = x: halves must round away from zero (roundf), not to
    // even; a zero block gives d = 0; the largest magnitude may be negative.
    var block1: [Float] = [127, 2.5, -2.5, 0.5, -0.5, 1.5, -1.5, 126.5]
    block1 += (0..<24).map { Float($0) - 12 }
    let block2 = [Float](repeating: 0, count: 32)
    var block3 = (0..<32).map { Float($0) * 1e-3 }
    block3[17] = -0.75
    let block4 = (0..<32).map { Float(sin(Double($0))) * 1e-6 }
    let input = block1 + block2 + block3 + block4
    var quantized = [UInt8](repeating: 0, count: input.count / 32 * 34)
    input.withUnsafeBufferPointer { values in
      quantized.withUnsafeMutableBytes { Q8_0.quantize(values, into: $0) }
    }
    #expect(quantized == referenceQ8_0(input))
    #expect(Int8(bitPattern: quantized[2 + 1]) == 3, "2.5 rounds away from zero")
    #expect(Int8(bitPattern: quantized[2 + 2]) == -3)
    #expect(Int8(bitPattern: quantized[2 + 3]) == 1)
    #expect(quantized[34..<68].allSatisfy { $0 == 0 }, "zero block")
    #expect(Int8(bitPattern: quantized[68 + 2 + 17]) == -127)

    let restored = quantized.withUnsafeBytes { Q8_0.dequantize($0, count: input.count) }
    for (block, start) in stride(from: 0, to: input.count, by: 32).enumerated() {
      let base = block * 34
      let d = Float(Float16(bitPattern: UInt16(quantized[base]) | UInt16(quantized[base + 1]) << 8))
      for j in 0..<32 {
        let q = Float(Int8(bitPattern: quantized[base + 2 + j]))
        #expect(restored[start + j] == d * q)
        // Within half a step (plus the Float16 rounding of d) of the input; a scale below
        // Float16's smallest subnormal (the 1e-6 block) flushes the block to zero, as in ggml.
        let bound = d == 0 ? 1e-6 : d * 0.5 + abs(q) * d * 1e-3
        #expect(abs(restored[start + j] - input[start + j]) <= bound)
      }
    }
  }

  @Test func defaultAlignmentIsNotWrittenAsAKey() throws {
    var writer = GGUFWriter()
    writer.set("general.architecture", .string("llama"))
    let path = try temporaryDirectory("gguf-writer") + "/empty.gguf"
    let layout = try writer.write(to: path)
    let reader = try GGUFReader(path: path)
    #expect(reader.metadata.map(\.key) == ["general.architecture"])
    #expect(reader.tensors.isEmpty)
    // 24 header bytes + key (8 + 20) + type (4) + string (8 + 5) = 69, padded to 96.
    #expect(layout.dataOffset == 96)
    #expect(layout.fileSize == 96)
    #expect(reader.fileSize == 96)
  }

  @Test func replacingAFileIsAtomicAndLeavesNoTemporaryFiles() throws {
    let directory = try temporaryDirectory("gguf-writer")
    let path = directory + "/model.gguf"
    var writer = GGUFWriter()
    writer.set("general.name", .string("first"))
    try writer.write(to: path)
    writer.set("general.name", .string("second"))
    writer.tensors = [GGUFTensor(name: "x", type: .f32, values: Tensor([1, 2, 3], shape: [3]))]
    try writer.write(to: path)
    #expect(try GGUFReader(path: path).value("general.name") == .string("second"))
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory) == ["model.gguf"])
  }
}

/// The little-endian bytes of an integer.
func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
  withUnsafeBytes(of: value.littleEndian) { Array($0) }
}
