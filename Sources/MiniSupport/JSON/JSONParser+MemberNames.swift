/// A member name as it stands in the text: the bytes between its quotes.
struct MemberName {
  /// Offset of the first byte after the opening quote.
  let start: Int
  /// Offset of the closing quote.
  let end: Int
  /// Whether the name holds a `\` escape (its decoded bytes then differ from the text's).
  let hasEscapes: Bool
}

/// The names met so far in one object, kept so that a repeated one is found without allocating.
///
/// Each name sets one bit, chosen by a hash of its decoded bytes, in a 256-bit filter. A name
/// whose bit is clear is new; only when the bit is already set are the object's earlier names
/// read again from the text and compared. Objects with more than `filterLimit` names switch to a
/// set of decoded names, so that large objects (a safetensors header) stay linear.
struct MemberNames {
  /// Names counted by the filter before the set takes over.
  static let filterLimit = 32

  /// Offset of the object's `{`.
  let objectStart: Int
  var count = 0
  var filter: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
  var set: Set<[UInt8]>?

  init(objectStart: Int) { self.objectStart = objectStart }
}

extension JSONParser {
  /// Records `name` among the names of its object; false when the object already has it.
  mutating func insert(_ name: MemberName, into names: inout MemberNames) -> Bool {
    if names.set != nil { return names.set!.insert(decodedBytes(of: name)).inserted }
    let hash = withDecodedBytes(of: name) { bytes in
      var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a
      for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
      return Int(truncatingIfNeeded: (hash ^ hash >> 32) & 255)
    }
    let bit = UInt64(1) << UInt64(hash & 63)
    let seen: UInt64
    switch hash >> 6 {
    case 0: seen = names.filter.0
    case 1: seen = names.filter.1
    case 2: seen = names.filter.2
    default: seen = names.filter.3
    }
    if seen & bit != 0 {
      for other in earlierNames(in: names, before: name) where sameName(other, name) {
        return false
      }
    }
    switch hash >> 6 {
    case 0: names.filter.0 |= bit
    case 1: names.filter.1 |= bit
    case 2: names.filter.2 |= bit
    default: names.filter.3 |= bit
    }
    names.count += 1
    if names.count == MemberNames.filterLimit {
      var set = Set<[UInt8]>()
      for other in earlierNames(in: names, before: name) { set.insert(decodedBytes(of: other)) }
      set.insert(decodedBytes(of: name))
      names.set = set
    }
    return true
  }

  /// The name as a `String`.
  mutating func string(of name: MemberName) -> String {
    withDecodedBytes(of: name) { String(decoding: $0, as: UTF8.self) }
  }

  /// Whether two names decode to the same bytes.
  private mutating func sameName(_ first: MemberName, _ second: MemberName) -> Bool {
    if !first.hasEscapes && !second.hasEscapes {
      return first.end - first.start == second.end - second.start
        && bytes[first.start..<first.end].elementsEqual(bytes[second.start..<second.end])
    }
    return decodedBytes(of: first) == decodedBytes(of: second)
  }

  private mutating func decodedBytes(of name: MemberName) -> [UInt8] {
    withDecodedBytes(of: name) { Array($0) }
  }

  /// Calls `body` with the name's decoded bytes: the text's own when it has no escapes.
  private mutating func withDecodedBytes<R>(
    of name: MemberName, _ body: (UnsafeRawBufferPointer) -> R
  ) -> R {
    guard name.hasEscapes else {
      return body(UnsafeRawBufferPointer(rebasing: bytes[name.start..<name.end]))
    }
    let saved = position
    position = name.start
    scratch.removeAll(keepingCapacity: true)
    // The name was validated when it was scanned, so decoding it again cannot fail.
    _ = try? decodeStringBody(keep: true)
    position = saved
    return scratch.withUnsafeBytes(body)
  }

  /// The names of the object before `name`, read again from the text (they and their values
  /// were validated already).
  private func earlierNames(in names: MemberNames, before name: MemberName) -> [MemberName] {
    var found: [MemberName] = []
    var scan = JSONParser(bytes)
    scan.position = names.objectStart + 1
    while true {
      scan.skipWhitespace()
      guard scan.position < name.start - 1, let other = try? scan.scanName() else { return found }
      found.append(other)
      scan.skipWhitespace()
      scan.position += 1  // ':'
      scan.skipWhitespace()
      guard (try? scan.skipValue()) != nil else { return found }
      scan.skipWhitespace()
      scan.position += 1  // ','
    }
  }
}
