import Foundation
import MiniTensor
import Testing

extension SafeTensorsTests {
  /// A malformed file, the error it must raise, and the tensor the error must name.
  struct BadFile: CustomTestStringConvertible, Sendable {
    let label: String
    let bytes: [UInt8]
    let kind: SafeTensorsError.Kind
    let tensor: String?

    var testDescription: String { label }

    init(_ label: String, _ bytes: [UInt8], _ kind: SafeTensorsError.Kind, tensor: String? = nil) {
      self.label = label
      self.bytes = bytes
      self.kind = kind
      self.tensor = tensor
    }

    /// A file whose header is `header` followed by a buffer of `bufferLength` zero bytes.
    init(
      _ label: String, header: String, bufferLength: Int = 0, _ kind: SafeTensorsError.Kind,
      tensor: String? = nil
    ) {
      let bytes = safetensorsBytes(
        header: header, buffer: [UInt8](repeating: 0, count: bufferLength))
      self.init(label, bytes, kind, tensor: tensor)
    }
  }

  /// A tensor entry with the given fields, as header JSON.
  static func entry(_ dtype: String = "F32", shape: String, offsets: String) -> String {
    "{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
  }

  static let badFiles: [BadFile] = [
    BadFile("empty file", [], .truncatedFile),
    BadFile("file shorter than 8 bytes", [1, 0, 0, 0, 0], .truncatedFile),
    BadFile(
      "header length past the end of the file",
      safetensorsBytes(header: "{}", declaredLength: 1000), .headerLengthOutOfRange),
    BadFile(
      "header length over 100 MB",
      safetensorsBytes(header: "{}", declaredLength: 100_000_001), .headerLengthOutOfRange),
    BadFile(
      "header length near UInt64.max",
      safetensorsBytes(header: "{}", declaredLength: .max), .headerLengthOutOfRange),
    BadFile(
      "header not UTF-8",
      safetensorsBytes(headerBytes: Array("{\"w".utf8) + [0xFF, 0xFE] + Array("\":1}".utf8)),
      .headerNotUTF8),
    BadFile("header not JSON (truncated)", header: "{\"w\": ", .headerNotJSON),
    BadFile("header not JSON (trailing text)", header: "{} x", .headerNotJSON),
    BadFile("header not JSON (single quotes)", header: "{'w': 1}", .headerNotJSON),
    BadFile("header not JSON (empty)", header: "", .headerNotJSON),
    BadFile(
      "header nested too deeply",
      header: String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000),
      .headerNotJSON),
    BadFile("header an array", header: "[1, 2]", .headerNotObject),
    BadFile("header a string", header: "\"w\"", .headerNotObject),
    BadFile("entry not an object", header: "{\"w\": 5}", .invalidEntry, tensor: "w"),
    BadFile(
      "entry missing data_offsets", header: "{\"w\": {\"dtype\":\"F32\",\"shape\":[1]}}",
      .invalidEntry, tensor: "w"),
    BadFile(
      "entry missing dtype", header: "{\"w\": {\"shape\":[1],\"data_offsets\":[0,4]}}",
      bufferLength: 4, .invalidEntry, tensor: "w"),
    BadFile(
      "dtype not a string",
      header: "{\"w\": {\"dtype\":32,\"shape\":[1],\"data_offsets\":[0,4]}}", bufferLength: 4,
      .invalidEntry, tensor: "w"),
    BadFile(
      "shape not an array",
      header: "{\"w\": {\"dtype\":\"F32\",\"shape\":\"1\",\"data_offsets\":[0,4]}}",
      bufferLength: 4, .invalidEntry, tensor: "w"),
    BadFile(
      "data_offsets with one element", header: "{\"w\": \(entry(shape: "[1]", offsets: "[4]"))}",
      bufferLength: 4, .invalidEntry, tensor: "w"),
    BadFile(
      "duplicate field in an entry",
      header:
        "{\"w\": {\"dtype\":\"F32\",\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,4]}}",
      bufferLength: 4, .invalidEntry, tensor: "w"),
    BadFile(
      "unknown dtype", header: "{\"w\": \(entry("Q4", shape: "[1]", offsets: "[0,4]"))}",
      bufferLength: 4, .unknownDType, tensor: "w"),
    BadFile(
      "unsupported dtype F64", header: "{\"w\": \(entry("F64", shape: "[1]", offsets: "[0,8]"))}",
      bufferLength: 8, .unknownDType, tensor: "w"),
    BadFile(
      "negative dimension", header: "{\"w\": \(entry(shape: "[-1, 2]", offsets: "[0,8]"))}",
      bufferLength: 8, .invalidShape, tensor: "w"),
    BadFile(
      "dimension 2.0", header: "{\"w\": \(entry(shape: "[2.0]", offsets: "[0,8]"))}",
      bufferLength: 8, .invalidShape, tensor: "w"),
    BadFile(
      "dimension 2.5", header: "{\"w\": \(entry(shape: "[2.5]", offsets: "[0,8]"))}",
      bufferLength: 8, .invalidShape, tensor: "w"),
    BadFile(
      "dimension 2e0", header: "{\"w\": \(entry(shape: "[2e0]", offsets: "[0,8]"))}",
      bufferLength: 8, .invalidShape, tensor: "w"),
    BadFile(
      "dimension a string", header: "{\"w\": \(entry(shape: "[\"2\"]", offsets: "[0,8]"))}",
      bufferLength: 8, .invalidShape, tensor: "w"),
    BadFile(
      "dimension beyond Int",
      header: "{\"w\": \(entry(shape: "[99999999999999999999]", offsets: "[0,8]"))}",
      bufferLength: 8, .invalidShape, tensor: "w"),
    BadFile(
      "element count overflows",
      header: "{\"w\": \(entry(shape: "[4294967296, 4294967296]", offsets: "[0,8]"))}",
      bufferLength: 8, .invalidShape, tensor: "w"),
    BadFile(
      "byte count overflows",
      header: "{\"w\": \(entry("I64", shape: "[4611686018427387904]", offsets: "[0,8]"))}",
      bufferLength: 8, .invalidShape, tensor: "w"),
    BadFile(
      "shape × dtype size ≠ byte range",
      header: "{\"w\": \(entry(shape: "[3]", offsets: "[0,8]"))}", bufferLength: 8,
      .sizeMismatch, tensor: "w"),
    BadFile(
      "offsets begin after end", header: "{\"w\": \(entry(shape: "[1]", offsets: "[8,4]"))}",
      bufferLength: 8, .invalidOffsets, tensor: "w"),
    BadFile(
      "negative offset", header: "{\"w\": \(entry(shape: "[1]", offsets: "[-4,0]"))}",
      bufferLength: 4, .invalidOffsets, tensor: "w"),
    BadFile(
      "non-integer offset", header: "{\"w\": \(entry(shape: "[1]", offsets: "[0,4.0]"))}",
      bufferLength: 4, .invalidOffsets, tensor: "w"),
    BadFile(
      "overlapping tensors",
      header:
        "{\"a\": \(entry(shape: "[2]", offsets: "[0,8]")), \"b\": \(entry(shape: "[2]", offsets: "[4,12]"))}",
      bufferLength: 12, .overlappingTensors, tensor: "b"),
    BadFile(
      "hole between tensors",
      header:
        "{\"a\": \(entry(shape: "[1]", offsets: "[0,4]")), \"b\": \(entry(shape: "[1]", offsets: "[8,12]"))}",
      bufferLength: 12, .gapBetweenTensors, tensor: "b"),
    BadFile(
      "hole at the start of the buffer",
      header: "{\"a\": \(entry(shape: "[1]", offsets: "[4,8]"))}", bufferLength: 8,
      .gapBetweenTensors, tensor: "a"),
    BadFile(
      "offsets past the end of the buffer",
      header: "{\"a\": \(entry(shape: "[2]", offsets: "[0,8]"))}", bufferLength: 4,
      .offsetsPastEnd, tensor: "a"),
    BadFile(
      "trailing bytes after the last tensor",
      header: "{\"a\": \(entry(shape: "[1]", offsets: "[0,4]"))}", bufferLength: 8,
      .trailingBytes, tensor: "a"),
    BadFile("bytes but no tensors", header: "{}", bufferLength: 4, .trailingBytes),
    BadFile(
      "duplicate tensor names",
      header:
        "{\"w\": \(entry(shape: "[1]", offsets: "[0,4]")), \"w\": \(entry(shape: "[1]", offsets: "[4,8]"))}",
      bufferLength: 8, .duplicateName, tensor: "w"),
    BadFile(
      "duplicate names spelled with an escape",
      header:
        "{\"w\": \(entry(shape: "[1]", offsets: "[0,4]")), \"\\u0077\": \(entry(shape: "[1]", offsets: "[4,8]"))}",
      bufferLength: 8, .duplicateName, tensor: "w"),
    BadFile(
      "__metadata__ an array", header: "{\"__metadata__\": [\"a\"]}", .invalidMetadata),
    BadFile(
      "__metadata__ with a number value", header: "{\"__metadata__\": {\"loss\": 5.5}}",
      .invalidMetadata),
    BadFile(
      "__metadata__ with a duplicate key",
      header: "{\"__metadata__\": {\"a\": \"1\", \"a\": \"2\"}}", .invalidMetadata),
  ]

  @Suite("validation")
  struct Validation {
    @Test(arguments: SafeTensorsTests.badFiles)
    func rejectsBadFile(_ bad: BadFile) throws {
      let directory = try ScratchDirectory()
      let path = try directory.write(bad.bytes, to: "bad.safetensors")
      expectSafeTensorsError(bad.kind, path: path, tensor: bad.tensor) {
        _ = try SafeTensorsFile(path: path)
      }
    }

    @Test func missingFileIsAnIOError() throws {
      let directory = try ScratchDirectory()
      let path = directory.file("absent.safetensors")
      expectSafeTensorsError(.io, path: path) { _ = try SafeTensorsFile(path: path) }
    }

    @Test func directoryIsAnIOError() throws {
      let directory = try ScratchDirectory()
      expectSafeTensorsError(.io, path: directory.path) {
        _ = try SafeTensorsFile(path: directory.path)
      }
    }

    @Test func unknownNameAndWrongDTypeAccess() throws {
      let directory = try ScratchDirectory()
      let header = "{\"w\": \(SafeTensorsTests.entry(shape: "[1]", offsets: "[0,4]"))}"
      let path = try directory.write(
        safetensorsBytes(header: header, buffer: littleEndianBytes([1.5])), to: "w.safetensors")
      let file = try SafeTensorsFile(path: path)
      expectSafeTensorsError(.tensorNotFound, path: path, tensor: "v") {
        _ = try file.tensor(named: "v")
      }
      expectSafeTensorsError(.tensorNotFound, path: path, tensor: "v") {
        try file.withRawBytes(named: "v") { _ in }
      }
      expectSafeTensorsError(.dtypeMismatch, path: path, tensor: "w") {
        _ = try file.integers(named: "w")
      }
    }
  }
}
