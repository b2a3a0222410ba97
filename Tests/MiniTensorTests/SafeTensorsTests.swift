import Foundation
import MiniTensor
import TestSupport
import Testing

/// Reading, validating and writing safetensors files. The nested suites live in
/// `SafeTensors*Tests.swift`.
@Suite("safetensors")
struct SafeTensorsTests {}

/// A directory under the system's temporary folder, removed with this value.
final class ScratchDirectory {
  let path: String

  init() throws {
    path =
      FileManager.default.temporaryDirectory
      .appendingPathComponent("minitensor-safetensors-\(UUID().uuidString)").path
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  /// The path of `name` inside the directory.
  func file(_ name: String) -> String { path + "/" + name }

  /// Writes `bytes` to `name` and returns its path.
  func write(_ bytes: [UInt8], to name: String) throws -> String {
    let target = file(name)
    try Data(bytes).write(to: URL(fileURLWithPath: target))
    return target
  }

  /// The names in the directory, sorted.
  func contents() throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: path).sorted()
  }
}

/// The bytes of a safetensors file: the header's length (as declared, by default the real one),
/// the header, then `buffer`.
func safetensorsBytes(
  header: String, buffer: [UInt8] = [], declaredLength: UInt64? = nil
) -> [UInt8] {
  safetensorsBytes(headerBytes: Array(header.utf8), buffer: buffer, declaredLength: declaredLength)
}

/// As `safetensorsBytes(header:buffer:declaredLength:)` with raw header bytes.
func safetensorsBytes(
  headerBytes: [UInt8], buffer: [UInt8] = [], declaredLength: UInt64? = nil
) -> [UInt8] {
  let length = declaredLength ?? UInt64(headerBytes.count)
  return withUnsafeBytes(of: length.littleEndian, Array.init) + headerBytes + buffer
}

/// Little-endian bytes of `values`.
func littleEndianBytes(_ values: [Float]) -> [UInt8] {
  values.flatMap { withUnsafeBytes(of: $0.bitPattern.littleEndian, Array.init) }
}

/// Records an issue unless `body` throws a `SafeTensorsError` of `kind` whose description names
/// `path` and, when given, `tensor`.
func expectSafeTensorsError(
  _ kind: SafeTensorsError.Kind, path: String, tensor: String? = nil,
  sourceLocation: SourceLocation = #_sourceLocation, _ body: () throws -> Void
) {
  do {
    try body()
    Issue.record("expected a \(kind) error, nothing was thrown", sourceLocation: sourceLocation)
  } catch let error as SafeTensorsError {
    #expect(error.kind == kind, "\(error)", sourceLocation: sourceLocation)
    #expect(error.path == path, sourceLocation: sourceLocation)
    #expect(error.description.contains(path), "\(error)", sourceLocation: sourceLocation)
    if let tensor {
      #expect(error.tensor == tensor, "\(error)", sourceLocation: sourceLocation)
      #expect(error.description.contains("'\(tensor)'"), "\(error)", sourceLocation: sourceLocation)
    }
  } catch {
    Issue.record("expected SafeTensorsError, got \(error)", sourceLocation: sourceLocation)
  }
}

/// The address of a tensor's first element (for checking that a tensor views a mapping).
func firstElementAddress(_ tensor: Tensor) -> UnsafeRawPointer? {
  tensor.withUnsafeBufferPointer { $0.baseAddress.map(UnsafeRawPointer.init) }
}
