import MiniSupport

/// Reads one corpus file record by record, in any format of `CorpusFormat`, plain or zstd, or
/// a flat Parquet file (`.parquet`) whose columns are the format's fields.
///
/// JSON lines are read one line at a time and JSON arrays one element at a time, so memory stays
/// at one record plus a read buffer whatever the file's size. A malformed record is skipped and
/// counted in `statistics` (the first few with their line and reason); I/O errors and broken
/// array structure throw `InputError`.
public final class CorpusReader {
  /// The file.
  public let path: String
  /// The layout records are decoded with.
  public let format: CorpusFormat
  /// Counts so far.
  public private(set) var statistics: SourceStatistics
  /// How many rejections are kept with their line and reason.
  public static let loggedRejectionLimit = 5

  private let file: FileByteSource
  private let input: BufferedInput
  private let splitter: JSONArraySplitter?
  private let parquet: ParquetRecords?
  private let placeholders: [(String, String)]
  private var sawFirstLine = false
  /// The member holding a document's text in `jsonl`/`json` records and Parquet rows.
  public let textColumn: String
  /// Whether `textColumn` was given (then the first record must have it as a string).
  private var checksTextColumn: Bool

  /// Opens `path`. With `format` nil the layout is detected from the file name and its first
  /// records (see `CorpusReader.detectFormat(path:)`), or a Parquet file's column names.
  /// - Parameters:
  ///   - placeholders: values for self-cognition placeholders, e.g. `["name": "MiniLLM"]` fills
  ///     `{{name}}`, `<NAME>` and `[NAME]` in conversations and preference pairs.
  ///   - textColumn: the member holding a document's text in `jsonl`/`json` records and
  ///     Parquet rows (`nil`: `text`). With it, a record file whose format is not given is read
  ///     as `jsonl`/`json` documents; plain-text files (`txt`) have no columns and are read as
  ///     lines.
  /// - Throws: `InputError` when the file cannot be opened or its format cannot be told, and,
  ///   naming the file and the column, when `textColumn` is given for a format other than
  ///   `jsonl`/`json`/`txt`, is not a column of a Parquet file or not a text column there, or is
  ///   missing or not a string in the first record (later records without it are rejected and
  ///   counted).
  public init(
    path: String, format: CorpusFormat? = nil, placeholders: [String: String] = [:],
    textColumn: String? = nil
  ) throws {
    self.path = path
    if textColumn != nil, format == nil {
      self.format = try Self.detectRecordFormat(path: path)
    } else {
      self.format = try format ?? Self.detectFormat(path: path)
    }
    self.textColumn = textColumn ?? "text"
    checksTextColumn = textColumn != nil && (self.format == .jsonl || self.format == .json)
    if let textColumn, ![.jsonl, .json, .text].contains(self.format) {
      throw InputError(
        path: path,
        message: "--text-column '\(textColumn)' applies to jsonl, json and Parquet documents, "
          + "not to \(self.format.rawValue) records")
    }
    if Self.isParquet(path) {
      guard self.format.isJSON else {
        throw InputError(
          path: path,
          message:
            "a Parquet file's rows are records with fields, not \(self.format.rawValue) lines")
      }
      let file = try ParquetFile(path: path)
      var keys = self.format.neededKeys
      if self.format.kind == .document, self.format == .jsonl || self.format == .json {
        keys = [self.textColumn]
        try Self.checkTextColumn(self.textColumn, of: file, path: path)
        checksTextColumn = false
      }
      parquet = ParquetRecords(file: file, columns: ParquetRecords.columns(of: file, keys: keys))
    } else {
      parquet = nil
    }
    let (source, file) = try FileByteSource.opening(path)
    self.file = file
    input = BufferedInput(source: source)
    if parquet == nil, self.format.isJSON, try Self.firstByte(path: path) == UInt8(ascii: "[") {
      splitter = JSONArraySplitter(input: input, path: path)
    } else {
      splitter = nil
    }
    self.placeholders = placeholders.sorted { $0.key < $1.key }.flatMap { key, value in
      ["{{\(key)}}", "<\(key.uppercased())>", "[\(key.uppercased())]"].map { ($0, value) }
    }
    statistics = SourceStatistics(path: path, format: self.format)
  }

  /// Compressed bytes read so far and the file's size (for progress and ETA).
  public var progress: (read: Int, total: Int) {
    if let parquet {
      let rows = max(1, parquet.file.rowCount)
      return (Int(Double(file.size) * Double(parquet.rowsRead) / Double(rows)), file.size)
    }
    return (file.position, file.size)
  }

  /// The next valid record, or `nil` at the end of the file.
  /// - Throws: `InputError` for unreadable files and broken JSON-array structure.
  public func next() throws -> CorpusRecord? {
    while true {
      let decoded: Result<CorpusRecord, RecordRejection>
      let line: Int
      if let parquet {
        guard let (members, invalid) = try parquet.next() else { return nil }
        line = parquet.rowsRead
        if let invalid {
          decoded = .failure(RecordRejection(.invalidUTF8, "column '\(invalid)' is not UTF-8"))
        } else {
          decoded = decode(members: members)
        }
      } else if let splitter {
        guard let (bytes, start) = try splitter.next() else { return nil }
        line = start
        decoded = bytes.withUnsafeBytes { decode($0) }
      } else {
        guard let bytes = try input.nextLine() else { return nil }
        line = input.lineNumber
        if isBlank(bytes) { continue }
        if format == .tsv && !sawFirstLine {
          sawFirstLine = true
          if isTSVHeader(bytes) { continue }
        }
        decoded = decode(bytes)
      }
      statistics.records += 1
      if checksTextColumn {
        checksTextColumn = false
        if case .failure(let rejection) = decoded,
          rejection.reason == .missingField || rejection.reason == .wrongType
        {
          throw InputError(
            path: path,
            message:
              "record at line \(line): \(rejection.detail) (the --text-column '\(textColumn)'"
              + " must name a string member of every record)")
        }
      }
      switch decoded {
      case .success(let record):
        statistics.accepted += 1
        return record
      case .failure(let rejection):
        statistics.reject(rejection, line: line, limit: Self.loggedRejectionLimit)
      }
    }
  }

  private func decode(_ bytes: UnsafeRawBufferPointer) -> Result<CorpusRecord, RecordRejection> {
    do throws(RecordRejection) {
      switch format {
      case .text, .tsv:
        if let bad = firstInvalidUTF8(in: bytes) {
          throw RecordRejection(.invalidUTF8, "invalid UTF-8 at byte \(bad)")
        }
        let line = String(decoding: bytes, as: UTF8.self)
        if format == .text { return .success(.document(Document(text: line))) }
        return .success(.preference(filled(try CorpusFormat.decodeTSV(line))))
      default:
        let members: [String: JSONValue]
        switch Result(catching: { () throws(JSONFailure) in
          try JSONParser.parseObject(bytes, keeping: neededKeys)
        }) {
        case .success(let parsed): members = parsed
        case .failure(let failure) where failure.kind == .invalidUTF8:
          throw RecordRejection(.invalidUTF8, "invalid UTF-8 at byte \(failure.offset)")
        case .failure(let failure):
          throw RecordRejection(.invalidJSON, "invalid JSON at \(failure.byteDescription)")
        }
        return decode(members: members)
      }
    } catch {
      return .failure(error)
    }
  }

  /// Decodes a record from its top-level members (a JSON object's, or a Parquet row's).
  private func decode(members: [String: JSONValue]) -> Result<CorpusRecord, RecordRejection> {
    do throws(RecordRejection) {
      let fields = RecordFields(members)
      switch format.kind {
      case .document:
        return .success(.document(try format.decodeDocument(fields, textColumn: textColumn)))
      case .conversation:
        return .success(.conversation(filled(try format.decodeConversation(fields))))
      case .preference: return .success(.preference(filled(try format.decodePreference(fields))))
      }
    } catch {
      return .failure(error)
    }
  }

  /// The members the record decoder reads.
  private var neededKeys: Set<String> {
    format == .jsonl || format == .json ? [textColumn] : format.neededKeys
  }

  private func isBlank(_ bytes: UnsafeRawBufferPointer) -> Bool {
    bytes.allSatisfy { $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }
  }

  private func isTSVHeader(_ bytes: UnsafeRawBufferPointer) -> Bool {
    String(decoding: bytes, as: UTF8.self).lowercased().hasPrefix("prompt\tchosen\trejected")
  }

  private func filled(_ text: String) -> String {
    guard !placeholders.isEmpty else { return text }
    var text = text
    for (pattern, value) in placeholders where text.contains(pattern) {
      text = text.replacing(pattern, with: value)
    }
    return text
  }

  private func filled(_ conversation: Conversation) -> Conversation {
    guard !placeholders.isEmpty else { return conversation }
    var result = conversation
    result.system = conversation.system.map(filled)
    result.messages = conversation.messages.map {
      Message(role: $0.role, content: filled($0.content))
    }
    return result
  }

  private func filled(_ pair: PreferencePair) -> PreferencePair {
    guard !placeholders.isEmpty else { return pair }
    return PreferencePair(
      prompt: filled(pair.prompt), chosen: filled(pair.chosen), rejected: filled(pair.rejected))
  }
}

/// What one source file gave: records seen, kept, and rejected per reason.
public struct SourceStatistics: Sendable, Equatable, Codable {
  /// The file, as given.
  public var path: String
  /// Its format.
  public var format: CorpusFormat
  /// Records read (accepted + rejected; blank lines are not records).
  public var records = 0
  /// Records decoded successfully.
  public var accepted = 0
  /// Rejected records per reason.
  public var rejected: [RejectReason: Int] = [:]
  /// The first few rejections, with line and detail.
  public var firstRejections: [RejectedRecord] = []

  /// Creates empty statistics for a source.
  public init(path: String, format: CorpusFormat) {
    self.path = path
    self.format = format
  }

  /// Total rejected records.
  public var rejectedCount: Int { rejected.values.reduce(0, +) }

  mutating func reject(_ rejection: RecordRejection, line: Int, limit: Int) {
    rejected[rejection.reason, default: 0] += 1
    if firstRejections.count < limit {
      firstRejections.append(
        RejectedRecord(line: line, reason: rejection.reason, detail: rejection.detail))
    }
  }
}

/// A skipped record, located by the line it starts on.
public struct RejectedRecord: Sendable, Equatable, Codable {
  /// 1-based line number in the (decompressed) file.
  public var line: Int
  /// Why it was skipped.
  public var reason: RejectReason
  /// What exactly was wrong.
  public var detail: String
}
