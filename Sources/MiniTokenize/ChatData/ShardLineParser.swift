import MiniSupport

/// Parses one JSON line of an SFT or preference shard: an object whose needed members are
/// arrays of token ids (non-negative integers below 2³¹).
///
/// The lines our pipelines write (compact, integers only) take a fast byte scanner; any other
/// valid JSON (spaces, escaped keys, extra members of any type, `1.0`) falls back to the full
/// `JSONParser`, which also words the error for invalid lines.
struct ShardLineParser {
  /// The members every line must have, in the order `parse` returns them.
  let keys: [String]
  private let keyBytes: [[UInt8]]

  init(keys: [String]) {
    self.keys = keys
    keyBytes = keys.map { Array($0.utf8) }
  }

  /// The arrays of `keys`, in order; a message naming the member when the line is invalid.
  func parse(_ line: UnsafeRawBufferPointer) -> Result<[[Int32]], LineError> {
    if let values = fastParse(line) { return .success(values) }
    return slowParse(line)
  }

  struct LineError: Error {
    let message: String
  }

  // MARK: Fast path

  private func fastParse(_ bytes: UnsafeRawBufferPointer) -> [[Int32]]? {
    var values = [[Int32]?](repeating: nil, count: keys.count)
    var position = 0
    let end = bytes.count
    @inline(__always) func skipSpaces() {
      while position < end,
        bytes[position] == 0x20 || bytes[position] == 0x09 || bytes[position] == 0x0D
      {
        position += 1
      }
    }
    skipSpaces()
    guard position < end, bytes[position] == UInt8(ascii: "{") else { return nil }
    position += 1
    skipSpaces()
    if position < end, bytes[position] == UInt8(ascii: "}") { return nil }
    while true {
      skipSpaces()
      guard position < end, bytes[position] == UInt8(ascii: "\"") else { return nil }
      let keyStart = position + 1
      position = keyStart
      while position < end, bytes[position] != UInt8(ascii: "\"") {
        if bytes[position] == UInt8(ascii: "\\") || bytes[position] >= 0x80 { return nil }
        position += 1
      }
      guard position < end else { return nil }
      let key = UnsafeRawBufferPointer(rebasing: bytes[keyStart..<position])
      position += 1
      skipSpaces()
      guard position < end, bytes[position] == UInt8(ascii: ":") else { return nil }
      position += 1
      skipSpaces()
      guard position < end, bytes[position] == UInt8(ascii: "[") else { return nil }
      position += 1
      var array: [Int32] = []
      array.reserveCapacity(256)
      skipSpaces()
      if position < end, bytes[position] == UInt8(ascii: "]") {
        position += 1
      } else {
        while true {
          skipSpaces()
          let digitsStart = position
          var value: Int64 = 0
          while position < end, bytes[position] >= 0x30, bytes[position] <= 0x39 {
            value = value &* 10 &+ Int64(bytes[position] &- 0x30)
            position += 1
            if position - digitsStart > 10 { return nil }
          }
          let count = position - digitsStart
          // JSON forbids leading zeros; larger values take the slow path for their message.
          guard count > 0, count == 1 || bytes[digitsStart] != 0x30, value <= Int64(Int32.max)
          else { return nil }
          array.append(Int32(value))
          skipSpaces()
          guard position < end else { return nil }
          if bytes[position] == UInt8(ascii: ",") {
            position += 1
            continue
          }
          guard bytes[position] == UInt8(ascii: "]") else { return nil }
          position += 1
          break
        }
      }
      if let slot = keyBytes.firstIndex(where: { $0.elementsEqual(key) }) {
        values[slot] = array
      }
      skipSpaces()
      guard position < end else { return nil }
      if bytes[position] == UInt8(ascii: ",") {
        position += 1
        continue
      }
      guard bytes[position] == UInt8(ascii: "}") else { return nil }
      position += 1
      break
    }
    skipSpaces()
    guard position == end else { return nil }
    var result: [[Int32]] = []
    result.reserveCapacity(values.count)
    for value in values {
      guard let value else { return nil }
      result.append(value)
    }
    return result
  }

  // MARK: Slow path

  private func slowParse(_ bytes: UnsafeRawBufferPointer) -> Result<[[Int32]], LineError> {
    let members: [String: JSONValue]
    do throws(JSONFailure) {
      members = try JSONParser.parseObject(bytes, keeping: Set(keys))
    } catch {
      if error.kind == .invalidUTF8 {
        return .failure(LineError(message: "invalid UTF-8 at byte \(error.offset)"))
      }
      return .failure(LineError(message: "invalid JSON at \(error.byteDescription)"))
    }
    var result: [[Int32]] = []
    for key in keys {
      guard let value = members[key] else {
        return .failure(LineError(message: "missing member '\(key)'"))
      }
      guard let elements = value.array else {
        return .failure(LineError(message: "'\(key)' is \(value.kindName), not an array"))
      }
      var array: [Int32] = []
      array.reserveCapacity(elements.count)
      for (index, element) in elements.enumerated() {
        guard case .number(let number) = element else {
          return .failure(
            LineError(message: "'\(key)[\(index)]' is \(element.kindName), not an integer"))
        }
        let value = number.value
        guard value >= 0, value <= Double(Int32.max), value == value.rounded() else {
          return .failure(
            LineError(message: "'\(key)[\(index)]' = \(number) is not a token id (0…2³¹−1)"))
        }
        array.append(Int32(value))
      }
      result.append(array)
    }
    return .success(result)
  }
}

/// Reads a shard file line by line (plain or zstd), calling `body` with each non-blank line's
/// 1-based number and its values.
/// - Throws: `ChatDataError.badRecord` naming the file and line for a malformed line, what
///   `body` throws, or `InputError` for I/O.
func forEachShardLine(
  path: String, parser: ShardLineParser, _ body: (_ line: Int, [[Int32]]) throws -> Void
) throws {
  let (source, _) = try FileByteSource.opening(path)
  let input = BufferedInput(source: source)
  while let line = try input.nextLine() {
    if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { continue }
    switch parser.parse(line) {
    case .success(let values): try body(input.lineNumber, values)
    case .failure(let error):
      throw ChatDataError.badRecord(path: path, line: input.lineNumber, message: error.message)
    }
  }
}
