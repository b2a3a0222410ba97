import Foundation
import MiniLlama
import TestSupport
import Testing

/// Builds GGUF bytes by hand, including malformed ones.
struct RawGGUF {
  var bytes: [UInt8] = []

  mutating func u8(_ v: UInt8) { bytes.append(v) }
  mutating func u32(_ v: UInt32) { bytes += littleEndianBytes(v) }
  mutating func u64(_ v: UInt64) { bytes += littleEndianBytes(v) }
  mutating func string(_ s: String) { string(Array(s.utf8)) }
  mutating func string(_ raw: [UInt8]) {
    u64(UInt64(raw.count))
    bytes += raw
  }

  /// A header with `tensorCount` tensors and `kvCount` keys.
  static func header(version: UInt32 = 3, tensorCount: UInt64, kvCount: UInt64) -> RawGGUF {
    var raw = RawGGUF()
    raw.bytes = Array("GGUF".utf8)
    raw.u32(version)
    raw.u64(tensorCount)
    raw.u64(kvCount)
    return raw
  }

  /// A tensor info.
  mutating func tensor(_ name: String, dims: [UInt64], type: UInt32, offset: UInt64) {
    string(name)
    u32(UInt32(dims.count))
    for d in dims { u64(d) }
    u32(type)
    u64(offset)
  }

  /// Pads to 32 bytes and appends `dataBytes` zero bytes.
  mutating func data(_ dataBytes: Int) {
    while bytes.count % 32 != 0 { bytes.append(0) }
    bytes += [UInt8](repeating: 0, count: dataBytes)
  }
}

@Suite("GGUF reader validation")
struct GGUFReaderTests {
  /// Writes `raw` and expects the reader to reject it naming `field`.
  func expectRejected(
    _ raw: RawGGUF, field: String, sourceLocation: SourceLocation = #_sourceLocation
  )
    throws
  {
    let path = try temporaryDirectory("gguf-bad") + "/bad.gguf"
    try Data(raw.bytes).write(to: URL(fileURLWithPath: path))
    do {
      _ = try GGUFReader(path: path)
      Issue.record(
        "accepted a bad file (expected an error on \(field))", sourceLocation: sourceLocation)
    } catch let error as GGUFError {
      #expect(error.field == field, "\(error)", sourceLocation: sourceLocation)
      #expect(error.path == path, sourceLocation: sourceLocation)
      #expect("\(error)".contains(field), sourceLocation: sourceLocation)
    }
  }

  /// One key `a.b` of type `type` followed by `payload`.
  func oneKey(type: UInt32, _ payload: (inout RawGGUF) -> Void) -> RawGGUF {
    var raw = RawGGUF.header(tensorCount: 0, kvCount: 1)
    raw.string("a.b")
    raw.u32(type)
    payload(&raw)
    return raw
  }

  /// One tensor info, then data of `dataBytes` bytes.
  func oneTensor(
    name: String = "t", dims: [UInt64], type: UInt32, offset: UInt64 = 0, dataBytes: Int
  ) -> RawGGUF {
    var raw = RawGGUF.header(tensorCount: 1, kvCount: 0)
    raw.tensor(name, dims: dims, type: type, offset: offset)
    raw.data(dataBytes)
    return raw
  }

  @Test func acceptsAHandWrittenFile() throws {
    var raw = RawGGUF.header(tensorCount: 2, kvCount: 1)
    raw.string("general.architecture")
    raw.u32(8)
    raw.string("llama")
    raw.tensor("a", dims: [4, 2], type: 0, offset: 0)
    raw.tensor("b", dims: [32], type: 8, offset: 32)
    raw.data(32 + 34)
    let path = try temporaryDirectory("gguf-good") + "/good.gguf"
    try Data(raw.bytes).write(to: URL(fileURLWithPath: path))
    let reader = try GGUFReader(path: path)
    #expect(reader.value("general.architecture") == .string("llama"))
    #expect(reader.tensors.map(\.shape) == [[2, 4], [32]])
    #expect(reader.tensors.map(\.byteCount) == [32, 34])
    #expect(reader.dataOffset % 32 == 0)
  }

  @Test func rejectsBadHeaders() throws {
    try expectRejected(RawGGUF(), field: "magic")
    var wrongMagic = RawGGUF.header(tensorCount: 0, kvCount: 0)
    wrongMagic.bytes[3] = UInt8(ascii: "X")
    try expectRejected(wrongMagic, field: "magic")
    try expectRejected(RawGGUF.header(version: 1, tensorCount: 0, kvCount: 0), field: "version")
    try expectRejected(RawGGUF.header(version: 4, tensorCount: 0, kvCount: 0), field: "version")
    try expectRejected(
      RawGGUF.header(tensorCount: UInt64.max, kvCount: 0), field: "tensor_count")
    try expectRejected(
      RawGGUF.header(tensorCount: 0, kvCount: 1 << 40), field: "metadata_kv_count")
    var short = RawGGUF.header(tensorCount: 0, kvCount: 0)
    short.bytes.removeLast(3)
    try expectRejected(short, field: "metadata_kv_count")
  }

  @Test func rejectsBadMetadata() throws {
    var longKey = RawGGUF.header(tensorCount: 0, kvCount: 1)
    longKey.u64(1000)
    longKey.bytes += Array("a.b".utf8) + [0, 0, 0, 0, 0, 0, 0, 0, 0, 0]
    try expectRejected(longKey, field: "metadata key #0")
    var badUTF8 = RawGGUF.header(tensorCount: 0, kvCount: 1)
    badUTF8.string([0x61, 0xFF, 0x62])
    badUTF8.u32(0)
    badUTF8.u8(1)
    try expectRejected(badUTF8, field: "metadata key #0")
    try expectRejected(oneKey(type: 13) { $0.u32(0) }, field: "a.b")
    try expectRejected(oneKey(type: 7) { $0.u8(2) }, field: "a.b")
    try expectRejected(oneKey(type: 8) { $0.u64(50) }, field: "a.b")
    try expectRejected(oneKey(type: 6) { $0.u8(0) }, field: "a.b")
    try expectRejected(
      oneKey(type: 9) {
        $0.u32(4)
        $0.u64(1 << 40)
      }, field: "a.b")
    try expectRejected(
      oneKey(type: 9) {
        $0.u32(99)
        $0.u64(0)
      }, field: "a.b")
    var duplicate = RawGGUF.header(tensorCount: 0, kvCount: 2)
    for _ in 0..<2 {
      duplicate.string("a.b")
      duplicate.u32(0)
      duplicate.u8(1)
    }
    try expectRejected(duplicate, field: "a.b")
  }

  @Test(arguments: [
    (UInt32(4), UInt32(0)), (UInt32(4), UInt32(48)), (UInt32(10), UInt32(64)),
  ])
  func rejectsBadAlignment(type: UInt32, value: UInt32) throws {
    var raw = RawGGUF.header(tensorCount: 0, kvCount: 1)
    raw.string("general.alignment")
    raw.u32(type)
    if type == 10 { raw.u64(UInt64(value)) } else { raw.u32(value) }
    try expectRejected(raw, field: "general.alignment")
  }

  @Test func rejectsBadTensorInfos() throws {
    try expectRejected(oneTensor(dims: [], type: 0, dataBytes: 0), field: "tensor 't'.n_dims")
    try expectRejected(
      oneTensor(dims: [1, 1, 1, 1, 1], type: 0, dataBytes: 4), field: "tensor 't'.n_dims")
    try expectRejected(oneTensor(dims: [4, 0], type: 0, dataBytes: 16), field: "tensor 't'.ne[1]")
    try expectRejected(
      oneTensor(dims: [1 << 62], type: 0, dataBytes: 16), field: "tensor 't'.ne[0]")
    try expectRejected(oneTensor(dims: [32], type: 99, dataBytes: 18), field: "tensor 't'.type")
    try expectRejected(oneTensor(dims: [32], type: 16, dataBytes: 18), field: "tensor 't'.type")
    try expectRejected(oneTensor(dims: [32], type: 12, dataBytes: 144), field: "tensor 't'.ne[0]")
    try expectRejected(oneTensor(dims: [16], type: 8, dataBytes: 34), field: "tensor 't'.ne[0]")
    try expectRejected(
      oneTensor(dims: [4], type: 0, offset: 3, dataBytes: 64), field: "tensor 't'.offset")
    try expectRejected(oneTensor(dims: [4, 4], type: 0, dataBytes: 60), field: "tensor 't'.offset")
    try expectRejected(
      oneTensor(dims: [4], type: 0, offset: 32, dataBytes: 32), field: "tensor 't'.offset")
    try expectRejected(
      oneTensor(name: String(repeating: "x", count: 64), dims: [4], type: 0, dataBytes: 16),
      field: "tensor '\(String(repeating: "x", count: 64))'.name")

    var overlapping = RawGGUF.header(tensorCount: 2, kvCount: 0)
    overlapping.tensor("t", dims: [16], type: 0, offset: 0)
    overlapping.tensor("u", dims: [8], type: 0, offset: 32)
    overlapping.data(128)
    try expectRejected(overlapping, field: "tensor 'u'.offset")

    var duplicate = RawGGUF.header(tensorCount: 2, kvCount: 0)
    duplicate.tensor("t", dims: [8], type: 0, offset: 0)
    duplicate.tensor("t", dims: [8], type: 0, offset: 32)
    duplicate.data(64)
    try expectRejected(duplicate, field: "tensor 't'")

    var truncated = RawGGUF.header(tensorCount: 1, kvCount: 0)
    truncated.tensor("truncated", dims: [8], type: 0, offset: 0)
    truncated.bytes.removeLast(4)
    try expectRejected(truncated, field: "tensor 'truncated'.offset")
  }
}
