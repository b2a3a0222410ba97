import MiniSupport

extension CorpusReader {
  /// Tells a file's format: a `.parquet` file by its column names; `.txt` and `.tsv` names
  /// (before any `.zst`) by name; otherwise by
  /// the first byte (`[` or `{` means JSON) and the members of the first decodable record.
  /// Files that are not JSON and not named `.json`/`.jsonl` are plain text.
  /// - Throws: `InputError` when a JSON file's records match no known layout.
  public static func detectFormat(path: String) throws -> CorpusFormat {
    if isParquet(path) { return try detectParquetFormat(path: path) }
    var name = path.lowercased()
    if name.hasSuffix(".zst") { name.removeLast(4) }
    if name.hasSuffix(".txt") { return .text }
    if name.hasSuffix(".tsv") { return .tsv }
    let first = try firstByte(path: path)
    let namedJSON = name.hasSuffix(".json") || name.hasSuffix(".jsonl")
    guard first == UInt8(ascii: "[") || first == UInt8(ascii: "{") else {
      if namedJSON {
        throw InputError(path: path, message: "does not start with '[' or '{': not JSON")
      }
      return .text
    }
    let (source, _) = try FileByteSource.opening(path)
    let input = BufferedInput(source: source, chunkSize: 1 << 16)
    let splitter = first == UInt8(ascii: "[") ? JSONArraySplitter(input: input, path: path) : nil
    for _ in 0..<32 {
      let record: [String: JSONValue]?
      if let splitter {
        guard let (bytes, _) = try splitter.next() else { break }
        record = bytes.withUnsafeBytes { try? JSONParser.parseObject($0, keeping: nil) }
      } else {
        guard let line = try input.nextLine() else { break }
        record = try? JSONParser.parseObject(line, keeping: nil)
      }
      guard let record else { continue }
      if let format = CorpusFormat.matching(record) {
        return first == UInt8(ascii: "[") && format == .jsonl ? .json : format
      }
      let keys = record.keys.sorted().joined(separator: ", ")
      throw InputError(
        path: path, message: "records with members [\(keys)] match no known format; pass --format")
    }
    throw InputError(
      path: path, message: "no decodable JSON record to detect the format; pass --format")
  }

  /// The format of a record file read with `--text-column`: Parquet rows and JSON lines are
  /// `jsonl` documents, a JSON array `json`, a `.txt` file or any file not starting with `[`
  /// or `{` plain text.
  static func detectRecordFormat(path: String) throws -> CorpusFormat {
    if isParquet(path) { return .jsonl }
    var name = path.lowercased()
    if name.hasSuffix(".zst") { name.removeLast(4) }
    if name.hasSuffix(".txt") { return .text }
    switch try firstByte(path: path) {
    case UInt8(ascii: "["): return .json
    case UInt8(ascii: "{"): return .jsonl
    default:
      if name.hasSuffix(".json") || name.hasSuffix(".jsonl") {
        throw InputError(path: path, message: "does not start with '[' or '{': not JSON")
      }
      return .text
    }
  }

  /// Checks that a Parquet file has `column` holding text.
  static func checkTextColumn(_ column: String, of file: ParquetFile, path: String) throws {
    guard let found = file.columns.first(where: { $0.name == column }) else {
      let names = file.columns.map(\.name).joined(separator: ", ")
      throw InputError(
        path: path,
        message:
          "has no column '\(column)' (columns: \(names)); pass --text-column with one of them")
    }
    guard found.physicalType == "BYTE_ARRAY" else {
      throw InputError(
        path: path,
        message: "column '\(column)' holds \(found.physicalType) values, not strings")
    }
  }

  /// The first non-whitespace byte of the (decompressed) file, or `nil` when there is none.
  static func firstByte(path: String) throws -> UInt8? {
    let (source, _) = try FileByteSource.opening(path)
    let input = BufferedInput(source: source, chunkSize: 1 << 16)
    while let chunk = try input.nextChunk() {
      if let byte = chunk.first(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) })
      {
        return byte
      }
    }
    return nil
  }
}
