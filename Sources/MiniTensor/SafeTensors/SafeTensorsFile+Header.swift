import MiniSupport

/// Validation of a safetensors header: everything is checked before any offset is trusted.
extension SafeTensorsFile {
  /// The largest header the reader accepts, as in the reference implementation.
  public static let maximumHeaderLength = 100_000_000

  /// What a validated header says.
  struct Header {
    var tensors: [TensorInfo]
    var metadata: [String: String]
    /// Offset of the data buffer from the start of the file.
    var bufferStart: Int
  }

  /// Validates the header and tensor layout of the file `bytes` read from `path`.
  static func parseHeader(_ bytes: UnsafeRawBufferPointer, path: String) throws(SafeTensorsError)
    -> Header
  {
    guard bytes.count >= 8 else {
      throw SafeTensorsError(
        .truncatedFile, path: path,
        "the file is \(bytes.count) bytes, shorter than the 8-byte header length that starts every "
          + "safetensors file (is it empty or truncated?)")
    }
    let declared = UInt64(littleEndian: bytes.loadUnaligned(as: UInt64.self))
    if declared > UInt64(maximumHeaderLength) {
      throw SafeTensorsError(
        .headerLengthOutOfRange, path: path,
        "header length \(declared) exceeds the \(maximumHeaderLength)-byte limit "
          + "(not a safetensors file, or a corrupt one)")
    }
    let headerLength = Int(declared)
    guard headerLength <= bytes.count - 8 else {
      throw SafeTensorsError(
        .headerLengthOutOfRange, path: path,
        "header length \(headerLength) runs past the end of the \(bytes.count)-byte file "
          + "(truncated download?)")
    }
    let headerBytes = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + headerLength)])
    if let bad = firstInvalidUTF8(in: headerBytes) {
      throw SafeTensorsError(
        .headerNotUTF8, path: path, "the header is not valid UTF-8 (header byte \(bad))")
    }
    let members: [(key: String, value: JSONValue)]
    do throws(JSONFailure) {
      members = try JSONParser.parseOrderedObject(headerBytes)
    } catch {
      throw headerFailure(error, headerBytes: headerBytes, path: path)
    }

    let bufferStart = 8 + headerLength
    let bufferLength = bytes.count - bufferStart
    var metadata: [String: String] = [:]
    var tensors: [TensorInfo] = []
    tensors.reserveCapacity(members.count)
    for (key, value) in members {
      if key == "__metadata__" {
        metadata = try parseMetadata(value, path: path)
      } else {
        tensors.append(
          try parseEntry(value, name: key, bufferLength: bufferLength, path: path))
      }
    }
    try checkLayout(tensors, bufferLength: bufferLength, path: path)
    return Header(tensors: tensors, metadata: metadata, bufferStart: bufferStart)
  }

  static func parseMetadata(_ value: JSONValue, path: String) throws(SafeTensorsError)
    -> [String: String]
  {
    guard case .object(let members) = value else {
      throw SafeTensorsError(
        .invalidMetadata, path: path,
        "__metadata__ is \(value.headerDescription), not an object of strings")
    }
    var metadata: [String: String] = [:]
    for (key, entry) in members {
      guard case .string(let text) = entry else {
        throw SafeTensorsError(
          .invalidMetadata, path: path,
          "__metadata__ key '\(key)' is \(entry.headerDescription), not a string")
      }
      metadata[key] = text
    }
    return metadata
  }

  static func parseEntry(
    _ value: JSONValue, name: String, bufferLength: Int, path: String
  ) throws(SafeTensorsError) -> TensorInfo {
    func fail(_ kind: SafeTensorsError.Kind, _ message: String) -> SafeTensorsError {
      SafeTensorsError(kind, path: path, tensor: name, message)
    }
    // Fields other than these three are ignored, as the reference implementation does.
    guard case .object(let members) = value else {
      throw fail(
        .invalidEntry,
        "the entry is \(value.headerDescription), not an object with dtype, shape and data_offsets"
      )
    }
    let dtypeField = members["dtype"]
    let shapeField = members["shape"]
    let offsetsField = members["data_offsets"]
    guard let dtypeField, let shapeField, let offsetsField else {
      let missing = [("dtype", dtypeField), ("shape", shapeField), ("data_offsets", offsetsField)]
        .filter { $0.1 == nil }.map { "'\($0.0)'" }
      throw fail(.invalidEntry, "missing field \(missing.joined(separator: ", "))")
    }

    guard case .string(let dheaderDescription) = dtypeField else {
      throw fail(.invalidEntry, "'dtype' is \(dtypeField.headerDescription), not a string")
    }
    guard let dtype = SafeTensorsDType(rawValue: dheaderDescription) else {
      let known = SafeTensorsDType.allCases.map(\.rawValue).joined(separator: ", ")
      throw fail(
        .unknownDType, "dtype '\(dheaderDescription)' is not supported (supported: \(known))")
    }

    guard case .array(let dims) = shapeField else {
      throw fail(.invalidEntry, "'shape' is \(shapeField.headerDescription), not an array")
    }
    var shape: [Int] = []
    shape.reserveCapacity(dims.count)
    var elementCount = 1
    for (axis, dim) in dims.enumerated() {
      guard case .number(let number) = dim, number.isIntegerLiteral else {
        throw fail(.invalidShape, "dimension \(axis) is \(dim.headerDescription), not an integer")
      }
      guard let size = number.integer, size >= 0 else {
        throw fail(.invalidShape, "dimension \(axis) is \(number), not a non-negative Int")
      }
      let (product, overflow) = elementCount.multipliedReportingOverflow(by: size)
      guard !overflow else {
        throw fail(
          .invalidShape, "the element count overflows at dimension \(axis) (\(shape + [size]))")
      }
      shape.append(size)
      elementCount = product
    }
    let (byteCount, overflow) = elementCount.multipliedReportingOverflow(by: dtype.elementSize)
    guard !overflow else {
      throw fail(
        .invalidShape, "the byte count of shape \(shape) in \(dheaderDescription) overflows")
    }

    guard case .array(let offsets) = offsetsField, offsets.count == 2 else {
      throw fail(
        .invalidEntry,
        "'data_offsets' is \(offsetsField.headerDescription), not an array [begin, end]")
    }
    var bounds: [Int] = []
    for offset in offsets {
      guard case .number(let number) = offset, number.isIntegerLiteral,
        let position = number.integer, position >= 0
      else {
        throw fail(
          .invalidOffsets, "data offset \(offset.headerDescription) is not a non-negative integer")
      }
      bounds.append(position)
    }
    let (begin, end) = (bounds[0], bounds[1])
    guard begin <= end else {
      throw fail(.invalidOffsets, "data_offsets [\(begin), \(end)] begin after they end")
    }
    guard end - begin == byteCount else {
      throw fail(
        .sizeMismatch,
        "shape \(shape) of \(dheaderDescription) needs \(byteCount) bytes but data_offsets "
          + "[\(begin), \(end)] span \(end - begin)")
    }
    guard end <= bufferLength else {
      throw fail(
        .offsetsPastEnd,
        "data_offsets [\(begin), \(end)] run past the end of the \(bufferLength)-byte data "
          + "buffer (truncated file?)")
    }
    return TensorInfo(name: name, dtype: dtype, shape: shape, byteRange: begin..<end)
  }

  /// Checks that the tensors, sorted by offset, tile the data buffer exactly.
  static func checkLayout(_ tensors: [TensorInfo], bufferLength: Int, path: String)
    throws(SafeTensorsError)
  {
    let sorted = tensors.sorted {
      ($0.byteRange.lowerBound, $0.byteRange.upperBound)
        < ($1.byteRange.lowerBound, $1.byteRange.upperBound)
    }
    var previous: TensorInfo?
    for tensor in sorted {
      let end = previous?.byteRange.upperBound ?? 0
      let begin = tensor.byteRange.lowerBound
      if begin < end, let previous {
        throw SafeTensorsError(
          .overlappingTensors, path: path, tensor: tensor.name,
          "bytes \(tensor.byteRange) overlap tensor '\(previous.name)' at \(previous.byteRange)")
      }
      if begin > end {
        let after = previous.map { " after tensor '\($0.name)'" } ?? " at the start of the buffer"
        throw SafeTensorsError(
          .gapBetweenTensors, path: path, tensor: tensor.name,
          "bytes \(end)..<\(begin)\(after) belong to no tensor")
      }
      previous = tensor
    }
    let end = previous?.byteRange.upperBound ?? 0
    if end != bufferLength {
      let after = previous.map { "after the last tensor '\($0.name)'" } ?? "and no tensors"
      throw SafeTensorsError(
        .trailingBytes, path: path, tensor: previous?.name,
        "\(bufferLength - end) bytes of data \(after) belong to no tensor")
    }
  }

  /// The `SafeTensorsError` for a header the JSON parser rejected: a name repeated among the
  /// tensors, in `__metadata__` or in one entry is reported as such, a header that is JSON but
  /// not an object as such, anything else as not JSON.
  static func headerFailure(
    _ failure: JSONFailure, headerBytes: UnsafeRawBufferPointer, path: String
  ) -> SafeTensorsError {
    if let value = try? JSONParser.parse(headerBytes), value.object == nil {
      return SafeTensorsError(
        .headerNotObject, path: path, "the header is \(value.headerDescription), not a JSON object")
    }
    if case .duplicateKey(let key) = failure.kind {
      if failure.path.isEmpty {
        return SafeTensorsError(
          .duplicateName, path: path, tensor: key, "the name appears more than once in the header")
      }
      if failure.path.count == 1, case .key(let name) = failure.path[0] {
        if name == "__metadata__" {
          return SafeTensorsError(
            .invalidMetadata, path: path, "__metadata__ key '\(key)' appears more than once")
        }
        return SafeTensorsError(
          .invalidEntry, path: path, tensor: name, "field '\(key)' appears more than once")
      }
    }
    return SafeTensorsError(.headerNotJSON, path: path, "the header is not valid JSON: \(failure)")
  }
}

extension JSONValue {
  /// The value's kind for an error message, numbers and booleans with their value.
  fileprivate var headerDescription: String {
    switch self {
    case .number(let number): "the number \(number)"
    case .bool(let value): "\(value)"
    default: kindName
    }
  }
}
