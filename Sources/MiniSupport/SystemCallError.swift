#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A failed system call on a file, with the C error number.
package struct SystemCallError: Error, CustomStringConvertible, Sendable {
  /// The call that failed, e.g. `"open"`.
  package let operation: String
  /// The file it was called on.
  package let path: String
  /// `errno` right after the failure.
  package let code: Int32

  package init(_ operation: String, path: String, code: Int32 = errno) {
    self.operation = operation
    self.path = path
    self.code = code
  }

  /// The system's text for `code`, e.g. "No such file or directory".
  package var reason: String { String(cString: strerror(code)) }

  package var description: String { "\(path): \(operation) failed: \(reason)" }
}
