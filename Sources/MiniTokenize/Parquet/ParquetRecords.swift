import MiniSupport

/// The rows of a flat Parquet corpus as the top-level members a JSON record would have: text
/// columns become strings, integer columns numbers, nulls are left out (so a null field is a
/// missing one); bytes that are not UTF-8 are kept aside so the record is rejected, not dropped.
final class ParquetRecords {
  /// The file.
  let file: ParquetFile
  /// The columns read (the format's fields that the file has).
  let columnNames: [String]
  private var rowGroup = 0
  private var rowInGroup = 0
  private var loaded: [String: [ParquetValue?]] = [:]
  /// Rows returned so far.
  private(set) var rowsRead = 0

  init(file: ParquetFile, columns: [String]) {
    self.file = file
    columnNames = columns
  }

  /// The members of the columns named in `keys` that the file has and can read.
  static func columns(of file: ParquetFile, keys: Set<String>) -> [String] {
    file.columns.filter { keys.contains($0.name) && $0.isReadable }.map(\.name)
  }

  /// The next row's members and the name of its first column holding bytes that are not UTF-8
  /// (`nil` when all are text), or `nil` after the last row.
  func next() throws -> (members: [String: JSONValue], invalidUTF8: String?)? {
    while rowGroup < file.rowGroupRowCounts.count, rowInGroup >= file.rowGroupRowCounts[rowGroup] {
      rowGroup += 1
      rowInGroup = 0
      loaded = [:]
    }
    guard rowGroup < file.rowGroupRowCounts.count else { return nil }
    if loaded.isEmpty {
      for name in columnNames { loaded[name] = try file.column(name, rowGroup: rowGroup) }
    }
    var members: [String: JSONValue] = [:]
    var invalid: String?
    for name in columnNames {
      guard let column = loaded[name], rowInGroup < column.count else { continue }
      switch column[rowInGroup] {
      case nil: break
      case .integer(let value)?:
        members[name] = .number(JSONNumber(Int(value)))
      case .bytes(let bytes)?:
        if let text = String(validating: bytes, as: UTF8.self) {
          members[name] = .string(text)
        } else if invalid == nil {
          invalid = name
        }
      }
    }
    rowInGroup += 1
    rowsRead += 1
    return (members, invalid)
  }
}

extension CorpusReader {
  /// Whether `path` names a Parquet file (`.parquet`).
  static func isParquet(_ path: String) -> Bool { path.lowercased().hasSuffix(".parquet") }

  /// The format of a Parquet corpus, told by its column names as a JSON record's members are.
  static func detectParquetFormat(path: String) throws -> CorpusFormat {
    let file = try ParquetFile(path: path)
    var members: [String: JSONValue] = [:]
    for column in file.columns { members[column.name] = .string("") }
    guard let format = CorpusFormat.matching(members), format != .json else {
      let names = file.columns.map(\.name).joined(separator: ", ")
      throw InputError(
        path: path,
        message: "columns [\(names)] match no flat format (a 'text' column, or the fields of "
          + "alpaca, firefly, dpo, wudao, wiki-cn…); pass --format")
    }
    return format
  }
}
