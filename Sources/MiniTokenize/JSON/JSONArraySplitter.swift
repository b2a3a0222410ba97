/// Streams the elements of a top-level JSON array one at a time, so a multi-gigabyte
/// `[{…}, {…}, …]` file never sits in memory whole.
///
/// It tracks only strings and bracket depth to find where each element ends; the element's bytes
/// are then parsed strictly by `JSONParser`, so a malformed element is one bad record and the
/// stream continues. Broken structure (an unterminated string or element, junk between elements,
/// data after the closing `]`) throws, since no later element could be trusted.
package final class JSONArraySplitter {
  private let input: BufferedInput
  private let path: String
  private var chunk = UnsafeRawBufferPointer(start: nil, count: 0)
  private var index = 0
  private var element: [UInt8] = []
  private var line = 1
  private var state = State.beforeArray

  private enum State {
    case beforeArray
    case beforeElement(first: Bool)
    case finished
  }

  /// Splits the JSON array read from `input`; `path` names the file in errors.
  package init(input: BufferedInput, path: String) {
    self.input = input
    self.path = path
  }

  /// The next element's bytes and the line it starts on; `nil` after the closing `]`.
  package func next() throws -> (bytes: [UInt8], line: Int)? {
    switch state {
    case .finished: return nil
    case .beforeArray:
      guard let byte = try nextNonWhitespace() else {
        throw InputError(path: path, message: "empty file, expected a JSON array")
      }
      guard byte == UInt8(ascii: "[") else {
        throw InputError(path: path, message: "line \(line): expected '[' to open a JSON array")
      }
      state = .beforeElement(first: true)
      return try next()
    case .beforeElement(let first):
      guard let byte = try nextNonWhitespace() else {
        throw InputError(path: path, message: "line \(line): the JSON array is not closed")
      }
      if byte == UInt8(ascii: "]") {
        guard first else {
          throw InputError(path: path, message: "line \(line): trailing ',' before ']'")
        }
        try finish()
        return nil
      }
      return try scanElement(startingWith: byte)
    }
  }

  private func scanElement(startingWith first: UInt8) throws -> (bytes: [UInt8], line: Int) {
    let startLine = line
    element.removeAll(keepingCapacity: true)
    var depth = 0
    var inString = false
    var escaped = false
    var byte = first
    while true {
      if inString {
        if escaped {
          escaped = false
        } else if byte == UInt8(ascii: "\\") {
          escaped = true
        } else if byte == UInt8(ascii: "\"") {
          inString = false
        }
      } else {
        switch byte {
        case UInt8(ascii: "\""): inString = true
        case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
        case UInt8(ascii: "}"), UInt8(ascii: "]"):
          if depth == 0 {
            guard byte == UInt8(ascii: "]") else {
              throw InputError(path: path, message: "line \(line): unbalanced '}' in the array")
            }
            try finish()
            return (element, startLine)
          }
          depth -= 1
        case UInt8(ascii: ","):
          if depth == 0 {
            state = .beforeElement(first: false)
            return (element, startLine)
          }
        default: break
        }
      }
      element.append(byte)
      guard let following = try nextByte() else {
        throw InputError(
          path: path, message: "the array element starting on line \(startLine) is not closed")
      }
      byte = following
    }
  }

  private func finish() throws {
    state = .finished
    if try nextNonWhitespace() != nil {
      throw InputError(path: path, message: "line \(line): data after the JSON array's ']'")
    }
  }

  private func nextByte() throws -> UInt8? {
    if index == chunk.count {
      guard let next = try input.nextChunk() else { return nil }
      chunk = next
      index = 0
    }
    let byte = chunk[index]
    index += 1
    if byte == UInt8(ascii: "\n") { line += 1 }
    return byte
  }

  private func nextNonWhitespace() throws -> UInt8? {
    while let byte = try nextByte() {
      switch byte {
      case 0x20, 0x09, 0x0A, 0x0D: continue
      default: return byte
      }
    }
    return nil
  }
}
