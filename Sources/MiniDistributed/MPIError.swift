/// An MPI call that returned an error code.
public struct MPIError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The MPI function and what it was doing, e.g. `MPI_Allreduce (1048576 floats)`.
  public let operation: String
  /// The MPI error code (`MPI_SUCCESS` is 0).
  public let code: Int32
  /// The library's text for `code` (`MPI_Error_string`).
  public let message: String

  /// An error of `operation` with `code` and its text.
  public init(operation: String, code: Int32, message: String) {
    self.operation = operation
    self.code = code
    self.message = message
  }

  /// `MPI_Allreduce (1048576 floats) failed with code 15: MPI_ERR_TRUNCATE: message truncated`.
  public var description: String {
    "\(operation) failed with code \(code)\(message.isEmpty ? "" : ": \(message)")"
  }
}
