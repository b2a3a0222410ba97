/// Why a JSON text was rejected, and where: the byte offset, its line and column, and the
/// members and elements leading to the bad value.
package struct JSONFailure: Error, Equatable, Sendable, CustomStringConvertible {
  /// The kind of fault.
  package enum Kind: Equatable, Sendable {
    /// Not JSON (RFC 8259): a malformed value, a trailing comma, data after the value, a
    /// number outside `Double`'s range.
    case syntax
    /// A string that is not well-formed UTF-8, or a `\u` escape of an unpaired surrogate.
    case invalidUTF8
    /// A member name that appears twice in one object.
    case duplicateKey(String)
    /// Objects and arrays nested deeper than `JSONParser.maximumDepth`.
    case tooDeep
  }

  /// The kind of fault.
  package var kind: Kind
  /// What was found, e.g. `expected ':', found '}'`.
  package var message: String
  /// The byte offset in the text where the fault was found.
  package var offset: Int
  /// The line of `offset`, from 1.
  package var line: Int
  /// The column of `offset` in bytes, from 1.
  package var column: Int
  /// The member names and element indices from the outermost value to the one at fault (empty
  /// at the top level).
  package var path: [JSONPathComponent] = []

  /// A failure at `offset` of `text`; the line and column are counted from the text.
  init(_ kind: Kind, _ message: String, offset: Int, in text: UnsafeRawBufferPointer) {
    self.kind = kind
    self.message = message
    self.offset = offset
    var line = 1
    var lineStart = 0
    for index in 0..<min(offset, text.count) where text[index] == 0x0A {
      line += 1
      lineStart = index + 1
    }
    self.line = line
    column = offset - lineStart + 1
  }

  /// The path written as `$.messages[2].content`, names that are not plain identifiers quoted.
  package var pathDescription: String {
    "$" + path.map(\.description).joined()
  }

  /// `byte 41 in $.a[2]: expected ',' or ']', found '}'`, for texts of one line (a record).
  package var byteDescription: String {
    path.isEmpty
      ? "byte \(offset): \(message)" : "byte \(offset) in \(pathDescription): \(message)"
  }

  /// `line 3, column 7 (byte 41) in $.a[2]: expected ',' or ']', found '}'`.
  package var description: String {
    let place = "line \(line), column \(column) (byte \(offset))"
    return path.isEmpty ? "\(place): \(message)" : "\(place) in \(pathDescription): \(message)"
  }

  /// The same failure, seen from the value that holds the one where it was found.
  func inside(_ component: JSONPathComponent) -> JSONFailure {
    var failure = self
    failure.path.insert(component, at: 0)
    return failure
  }
}

/// One step of a path into a JSON value.
package enum JSONPathComponent: Equatable, Sendable, CustomStringConvertible {
  /// An object's member.
  case key(String)
  /// An array's element, from 0.
  case index(Int)

  /// `.name`, `["odd name"]` or `[3]`.
  package var description: String {
    switch self {
    case .index(let index): return "[\(index)]"
    case .key(let key):
      let plain =
        !key.isEmpty
        && key.utf8.allSatisfy {
          ($0 >= 0x30 && $0 <= 0x39) || (($0 | 0x20) >= 0x61 && ($0 | 0x20) <= 0x7A) || $0 == 0x5F
        }
      return plain ? "." + key : "[" + jsonStringLiteral(key) + "]"
    }
  }
}
