/// Reads Thrift's compact protocol, the encoding of Parquet's footer and page headers: field
/// headers (a delta or a zigzag id, and a type), zigzag varints, length-prefixed binaries, lists
/// and nested structs. Every length is checked against the bytes left; nesting is bounded.
struct ThriftCompactReader {
  /// Compact protocol types.
  enum FieldType: UInt8 {
    case boolTrue = 1, boolFalse = 2, byte = 3, i16 = 4, i32 = 5, i64 = 6, double = 7
    case binary = 8, list = 9, set = 10, map = 11, structure = 12
  }

  /// A malformed structure, with the byte offset where it was found.
  struct Failure: Error {
    var offset: Int
    var message: String
  }

  let bytes: UnsafeRawBufferPointer
  private(set) var position: Int
  /// The offset of `bytes[0]` in the file, for error messages.
  let base: Int
  private var fieldIDs: [Int] = []
  private var lastFieldID = 0
  static let depthLimit = 32

  init(_ bytes: UnsafeRawBufferPointer, base: Int) {
    self.bytes = bytes
    self.base = base
    position = 0
  }

  func failure(_ message: String) -> Failure { Failure(offset: base + position, message: message) }

  mutating func byte() throws(Failure) -> UInt8 {
    guard position < bytes.count else { throw failure("truncated") }
    defer { position += 1 }
    return bytes[position]
  }

  mutating func varint() throws(Failure) -> UInt64 {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      let next = try byte()
      guard shift < 64 else { throw failure("varint longer than 10 bytes") }
      value |= UInt64(next & 0x7F) << shift
      if next & 0x80 == 0 { return value }
      shift += 7
    }
  }

  mutating func zigzag() throws(Failure) -> Int64 {
    let raw = try varint()
    return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
  }

  mutating func i32() throws(Failure) -> Int32 {
    let value = try zigzag()
    guard let narrow = Int32(exactly: value) else { throw failure("i32 out of range: \(value)") }
    return narrow
  }

  mutating func i64() throws(Failure) -> Int64 { try zigzag() }

  /// A length-prefixed binary (or string) as a view of the input.
  mutating func binary() throws(Failure) -> UnsafeRawBufferPointer {
    let length = try varint()
    guard length <= UInt64(bytes.count - position) else {
      throw failure("a binary of \(length) bytes runs past the end")
    }
    defer { position += Int(length) }
    return UnsafeRawBufferPointer(rebasing: bytes[position..<position + Int(length)])
  }

  mutating func string() throws(Failure) -> String {
    let raw = try binary()
    guard let text = String(validating: raw, as: UTF8.self) else {
      throw failure("a string is not UTF-8")
    }
    return text
  }

  /// Begins a struct: field ids restart from 0.
  mutating func beginStruct() throws(Failure) {
    guard fieldIDs.count < Self.depthLimit else { throw failure("structs nested too deeply") }
    fieldIDs.append(lastFieldID)
    lastFieldID = 0
  }

  mutating func endStruct() {
    lastFieldID = fieldIDs.popLast() ?? 0
  }

  /// The next field's id and type, or `nil` at the struct's stop byte. A boolean field's value
  /// is in its type (`boolTrue`/`boolFalse`).
  mutating func nextField() throws(Failure) -> (id: Int, type: FieldType)? {
    let header = try byte()
    if header == 0 { return nil }
    guard let type = FieldType(rawValue: header & 0x0F) else {
      throw failure("unknown field type \(header & 0x0F)")
    }
    let delta = Int(header >> 4)
    if delta == 0 {
      let id = try zigzag()
      guard let small = Int16(exactly: id) else { throw failure("field id \(id) out of range") }
      lastFieldID = Int(small)
    } else {
      lastFieldID += delta
    }
    return (lastFieldID, type)
  }

  /// A list's element type and count (at most the bytes left: every element takes a byte).
  mutating func listHeader() throws(Failure) -> (type: FieldType, count: Int) {
    let header = try byte()
    var count = UInt64(header >> 4)
    if count == 15 { count = try varint() }
    guard let type = FieldType(rawValue: header & 0x0F) else {
      throw failure("unknown list element type \(header & 0x0F)")
    }
    guard count <= UInt64(bytes.count - position) else {
      throw failure("a list of \(count) elements runs past the end")
    }
    return (type, Int(count))
  }

  /// A list of i32 values.
  mutating func i32List() throws(Failure) -> [Int32] {
    let (type, count) = try listHeader()
    guard type == .i32 else { throw failure("expected a list of i32") }
    var values: [Int32] = []
    values.reserveCapacity(count)
    for _ in 0..<count { values.append(try i32()) }
    return values
  }

  /// A list of strings.
  mutating func stringList() throws(Failure) -> [String] {
    let (type, count) = try listHeader()
    guard type == .binary else { throw failure("expected a list of strings") }
    var values: [String] = []
    for _ in 0..<count { values.append(try string()) }
    return values
  }

  /// Skips a value of `type` (its boolean already read when it is a struct field).
  mutating func skip(_ type: FieldType, inField: Bool = true, depth: Int = 0) throws(Failure) {
    guard depth < Self.depthLimit else { throw failure("values nested too deeply") }
    switch type {
    case .boolTrue, .boolFalse: if !inField { _ = try byte() }
    case .byte: _ = try byte()
    case .i16, .i32, .i64: _ = try varint()
    case .double:
      guard bytes.count - position >= 8 else { throw failure("truncated") }
      position += 8
    case .binary: _ = try binary()
    case .list, .set:
      let (element, count) = try listHeader()
      for _ in 0..<count { try skip(element, inField: false, depth: depth + 1) }
    case .map:
      let count = try varint()
      guard count <= UInt64(bytes.count - position) else {
        throw failure("a map of \(count) entries runs past the end")
      }
      if count > 0 {
        let types = try byte()
        guard let key = FieldType(rawValue: types >> 4),
          let value = FieldType(rawValue: types & 0x0F)
        else { throw failure("unknown map types \(types)") }
        for _ in 0..<count {
          try skip(key, inField: false, depth: depth + 1)
          try skip(value, inField: false, depth: depth + 1)
        }
      }
    case .structure:
      try beginStruct()
      while let field = try nextField() { try skip(field.type, depth: depth + 1) }
      endStruct()
    }
  }

  /// Reads a struct, calling `body` for each field; fields it does not consume must be skipped
  /// by it (it returns false to have them skipped).
  mutating func readStruct(
    _ body: (inout ThriftCompactReader, Int, FieldType) throws(Failure) -> Bool
  ) throws(Failure) {
    try beginStruct()
    while let (id, type) = try nextField() {
      if try !body(&self, id, type) { try skip(type) }
    }
    endStruct()
  }
}
