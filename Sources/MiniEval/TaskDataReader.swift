import Foundation
import MiniSupport
import MiniTokenize

/// Reads a split of a task's local data as `datasets.load_dataset("json" | "csv" | "parquet",
/// data_files=…)` reads it: JSON Lines or one JSON array of objects; CSV with a header row, where
/// a column whose every cell is an integer holds integers (as pandas infers it) and every other
/// column strings; flat Parquet files of text and integer columns.
public enum TaskDataReader {
  /// The formats `dataset_path` may name.
  public enum Format: String, Sendable {
    case json
    case csv
    case parquet
  }

  /// The documents of `paths` (read in order and concatenated).
  /// - Throws: `EvalError` naming the file and row for unreadable files, rows of the wrong width,
  ///   JSON that is not an object per item.
  public static func read(_ paths: [String], format: Format) throws -> [TaskDocument] {
    var documents: [TaskDocument] = []
    for path in paths {
      guard let data = FileManager.default.contents(atPath: path) else {
        throw EvalError(file: path, "cannot be read (missing or not a file)")
      }
      switch format {
      case .json: documents += try readJSON(data, path: path)
      case .csv: documents += try readCSV(data, path: path)
      case .parquet: documents += try readParquet(path)
      }
    }
    return documents
  }

  static func readJSON(_ data: Data, path: String) throws -> [TaskDocument] {
    let text = String(decoding: data, as: UTF8.self)
    let trimmed = text.drop { $0.isWhitespace }
    if trimmed.first == "[" {
      let value = try parse(Array(text.utf8), path: path, location: nil)
      guard case .array(let items) = value else {
        throw EvalError(file: path, "expected a JSON array of objects")
      }
      return try items.enumerated().map { index, item in
        try document(item, path: path, location: "item \(index)")
      }
    }
    var documents: [TaskDocument] = []
    for (number, line) in text.split(separator: "\n", omittingEmptySubsequences: false)
      .enumerated()
    where !line.allSatisfy(\.isWhitespace) {
      let location = "line \(number + 1)"
      let members: [(key: String, value: JSONValue)]
      do {
        members = try Array(line.utf8).withUnsafeBytes { buffer throws(JSONFailure) in
          try JSONParser.parseOrderedObject(buffer)
        }
      } catch {
        throw EvalError(file: path, at: location, "not a JSON object: \(error)")
      }
      documents.append(
        TaskDocument(
          fields: members.map { ($0.key, jinja($0.value)) }, origin: "\(path) \(location)"))
    }
    return documents
  }

  private static func parse(_ bytes: [UInt8], path: String, location: String?) throws -> JSONValue {
    do {
      return try bytes.withUnsafeBytes { buffer throws(JSONFailure) in
        try JSONParser.parse(buffer)
      }
    } catch {
      throw EvalError(file: path, at: location, "not valid JSON: \(error)")
    }
  }

  private static func document(_ value: JSONValue, path: String, location: String) throws
    -> TaskDocument
  {
    guard case .object = value else {
      throw EvalError(file: path, at: location, "expected a JSON object, found \(value.kindName)")
    }
    // JSONValue objects are unordered: keep the members in the order the text lists them.
    let ordered = orderedMembers(value)
    return TaskDocument(
      fields: ordered.map { ($0.0, jinja($0.1)) }, origin: "\(path) \(location)")
  }

  private static func orderedMembers(_ value: JSONValue) -> [(String, JSONValue)] {
    guard case .object(let members) = value else { return [] }
    return members.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
  }

  /// A JSON value as a Jinja value (numbers that are integers as integers, others as their
  /// shortest decimal text).
  static func jinja(_ value: JSONValue) -> JinjaValue {
    switch value {
    case .null: return .none
    case .bool(let flag): return .bool(flag)
    case .number(let number):
      if let integer = number.integer { return .int(integer) }
      return .string("\(number.value)")
    case .string(let text): return .string(text)
    case .array(let items): return .array(items.map(jinja))
    case .object: return .object(orderedMembers(value).map { ($0.0, jinja($0.1)) })
    }
  }

  /// The rows of a flat Parquet file: text columns as strings, integer columns as integers,
  /// nulls as `None`.
  static func readParquet(_ path: String) throws -> [TaskDocument] {
    let file: ParquetFile
    do {
      file = try ParquetFile(path: path)
    } catch {
      throw EvalError(file: path, "not a readable Parquet file: \(error)")
    }
    for column in file.columns where !column.isReadable {
      throw EvalError(
        file: path, at: "column \(column.name)",
        "a \(column.physicalType) column, which is not read (text and integer columns only)")
    }
    var columns = [[JinjaValue]](repeating: [], count: file.columns.count)
    for group in file.rowGroupRowCounts.indices {
      for (index, column) in file.columns.enumerated() {
        let values: [ParquetValue?]
        do {
          values = try file.column(column.name, rowGroup: group)
        } catch {
          throw EvalError(file: path, at: "column \(column.name)", "\(error)")
        }
        for value in values {
          switch value {
          case nil: columns[index].append(.none)
          case .integer(let integer)?: columns[index].append(.int(Int(integer)))
          case .bytes?:
            guard let text = value?.string else {
              throw EvalError(
                file: path, at: "column \(column.name), row \(columns[index].count)",
                "not UTF-8 text")
            }
            columns[index].append(.string(text))
          }
        }
      }
    }
    let rows = columns.map(\.count).min() ?? 0
    return (0..<rows).map { row in
      TaskDocument(
        fields: file.columns.enumerated().map { ($1.name, columns[$0][row]) },
        origin: "\(path) row \(row)")
    }
  }

  static func readCSV(_ data: Data, path: String) throws -> [TaskDocument] {
    let rows = try CSVRows.parse(String(decoding: data, as: UTF8.self), path: path)
    guard let header = rows.first else { throw EvalError(file: path, "empty: no header row") }
    var names = header.cells
    // pandas names an empty first header cell (an index column) "Unnamed: 0".
    for (index, name) in names.enumerated() where name.isEmpty {
      names[index] = "Unnamed: \(index)"
    }
    let body = Array(rows.dropFirst())
    for row in body where row.cells.count != names.count {
      throw EvalError(
        file: path, at: "row \(row.line)",
        "\(row.cells.count) cells, the header has \(names.count) (\(names.joined(separator: ", ")))"
      )
    }
    let integerColumns = (0..<names.count).map { column in
      !body.isEmpty && body.allSatisfy { Int($0.cells[column]) != nil }
    }
    return body.map { row in
      let fields = names.indices.map { column -> (String, JinjaValue) in
        let cell = row.cells[column]
        return (names[column], integerColumns[column] ? .int(Int(cell)!) : .string(cell))
      }
      return TaskDocument(fields: fields, origin: "\(path) row \(row.line)")
    }
  }
}

/// RFC 4180 rows: commas, double quotes with `""` escapes, line breaks inside quoted cells.
struct CSVRows {
  struct Row {
    var cells: [String]
    /// The line the row starts on (1-based).
    var line: Int
  }

  static func parse(_ text: String, path: String) throws -> [Row] {
    var rows: [Row] = []
    var cells: [String] = []
    var cell = ""
    var quoted = false
    var line = 1
    var rowLine = 1
    var scalars = Array(text.unicodeScalars)
    if scalars.first == "\u{FEFF}" { scalars.removeFirst() }
    var index = 0
    var rowHasContent = false
    while index < scalars.count {
      let scalar = scalars[index]
      index += 1
      if quoted {
        if scalar == "\"" {
          if index < scalars.count && scalars[index] == "\"" {
            cell.unicodeScalars.append("\"")
            index += 1
          } else {
            quoted = false
          }
        } else {
          if scalar == "\n" { line += 1 }
          cell.unicodeScalars.append(scalar)
        }
        continue
      }
      switch scalar {
      case "\"":
        quoted = true
        rowHasContent = true
      case ",":
        cells.append(cell)
        cell = ""
        rowHasContent = true
      case "\r" where index < scalars.count && scalars[index] == "\n":
        continue
      case "\n", "\r":
        if rowHasContent || !cell.isEmpty {
          cells.append(cell)
          rows.append(Row(cells: cells, line: rowLine))
        }
        cells = []
        cell = ""
        rowHasContent = false
        line += 1
        rowLine = line
      default:
        cell.unicodeScalars.append(scalar)
        rowHasContent = true
      }
    }
    if quoted {
      throw EvalError(file: path, at: "row \(rowLine)", "a quoted cell is not closed")
    }
    if rowHasContent || !cell.isEmpty {
      cells.append(cell)
      rows.append(Row(cells: cells, line: rowLine))
    }
    return rows
  }
}
