/// A safetensors file that cannot be read or written, naming the file and, where one is at fault,
/// the tensor.
public struct SafeTensorsError: Error, CustomStringConvertible, Sendable {
  /// What went wrong.
  public enum Kind: Sendable, Equatable, CaseIterable {
    /// The file could not be opened, mapped, written, synced or renamed.
    case io
    /// The file is shorter than the 8-byte header length.
    case truncatedFile
    /// The header length runs past the end of the file or exceeds the 100 MB limit.
    case headerLengthOutOfRange
    /// The header bytes are not valid UTF-8.
    case headerNotUTF8
    /// The header is not valid JSON.
    case headerNotJSON
    /// The header is JSON but not an object.
    case headerNotObject
    /// Two tensors (or two `__metadata__` entries) share a name.
    case duplicateName
    /// A tensor entry is not an object, or lacks or mistypes `dtype`, `shape` or `data_offsets`.
    case invalidEntry
    /// A dtype that is not one of `SafeTensorsDType`.
    case unknownDType
    /// A dimension that is negative, not an integer, or makes the element count overflow.
    case invalidShape
    /// The shape times the element size differs from the length of the byte range.
    case sizeMismatch
    /// Offsets that are negative, not integers, or with the beginning after the end.
    case invalidOffsets
    /// A tensor's bytes end past the end of the data buffer.
    case offsetsPastEnd
    /// Two tensors' byte ranges overlap.
    case overlappingTensors
    /// Bytes of the data buffer before or between tensors belong to no tensor.
    case gapBetweenTensors
    /// Bytes after the last tensor belong to no tensor.
    case trailingBytes
    /// `__metadata__` is not an object whose values are all strings.
    case invalidMetadata
    /// No tensor has the requested name.
    case tensorNotFound
    /// The tensor's dtype does not suit the requested access (e.g. integers from a float tensor).
    case dtypeMismatch
    /// A value cannot be stored exactly in the requested integer dtype.
    case notRepresentable
    /// A tensor name that a file cannot hold (e.g. `__metadata__`).
    case invalidName
  }

  /// What went wrong.
  public let kind: Kind
  /// The file read or written.
  public let path: String
  /// The tensor at fault, if one is.
  public let tensor: String?
  /// What is wrong, and where it helps, how to fix it.
  public let message: String

  /// An error of `kind` in the file at `path`, optionally about `tensor`.
  public init(_ kind: Kind, path: String, tensor: String? = nil, _ message: String) {
    self.kind = kind
    self.path = path
    self.tensor = tensor
    self.message = message
  }

  /// `path: tensor 'name': message`.
  public var description: String {
    if let tensor { return "\(path): tensor '\(tensor)': \(message)" }
    return "\(path): \(message)"
  }
}
