import Foundation
import MiniTokenize
import TestSupport
import Testing

/// Parquet files written by `pyarrow`, read natively: every codec (UNCOMPRESSED, SNAPPY, GZIP,
/// ZSTD) × dictionary or PLAIN × data page v1 or v2, with nulls, several row groups and pages,
/// compared value for value; corpora read through `CorpusReader`; unsupported and hostile files
/// give errors naming the file, never a crash.
@Suite("Parquet files from pyarrow")
struct ParquetPythonTests {
  static let script = #"""
    import json, sys, random
    import pyarrow as pa, pyarrow.parquet as pq
    out = sys.argv[1]
    rng = random.Random(5)
    words = ["床前明月光", "hello", "world", "🙂🚀", "", "a  b", "line\nbreak", "x" * 300, "数字 123"]
    rows = 2500
    text = [None if i % 7 == 3 else " ".join(rng.choice(words) for _ in range(rng.randint(0, 6))) for i in range(rows)]
    n32 = [None if i % 11 == 5 else rng.randint(-2**31, 2**31 - 1) for i in range(rows)]
    n64 = [rng.randint(-2**63, 2**63 - 1) for i in range(rows)]
    label = [rng.choice(["a", "b", "c"]) for i in range(rows)]
    table = pa.table({
        "text": pa.array(text, pa.string()), "n32": pa.array(n32, pa.int32()),
        "n64": pa.array(n64, pa.int64()), "label": pa.array(label, pa.string()),
        "score": pa.array([float(i) for i in range(rows)], pa.float64())})
    kinds = []
    for codec in ["NONE", "SNAPPY", "GZIP", "ZSTD"]:
        for dictionary in [False, True]:
            for version in ["1.0", "2.0"]:
                name = f"{codec}-{'dict' if dictionary else 'plain'}-v{version[0]}.parquet"
                pq.write_table(table, f"{out}/{name}", compression=codec, use_dictionary=dictionary,
                               data_page_version=version, row_group_size=700, data_page_size=4096,
                               write_statistics=False)
                kinds.append(name)
    pq.write_table(table, f"{out}/BROTLI.parquet", compression="BROTLI")
    pq.write_table(pa.table({"text": pa.array([["a", "b"]], pa.list_(pa.string()))}), f"{out}/nested.parquet")
    pq.write_table(pa.table({"text": ["first document", None, "", "third 文档"], "id": [1, 2, 3, 4]}),
                   f"{out}/docs.parquet")
    pq.write_table(pa.table({"instruction": ["问", "q2"], "input": ["", "more"], "output": ["答", "a2"]}),
                   f"{out}/alpaca.parquet", compression="ZSTD")
    pq.write_table(pa.table({"text": pa.array([b"ok", b"\xff\xfe"], pa.binary())}), f"{out}/binary.parquet")
    json.dump({"kinds": kinds, "text": text, "n32": n32, "n64": [str(v) for v in n64], "label": label},
              open(f"{out}/expected.json", "w", encoding="utf-8"), ensure_ascii=False)
    """#

  static func files() throws -> (directory: String, expected: [String: Any]) {
    let python = try PythonRunner.requirePeers(importing: ["pyarrow"])
    let directory = try temporaryDirectory("parquet")
    let scriptPath = directory + "/make.py"
    try Data(script.utf8).write(to: URL(fileURLWithPath: scriptPath))
    let result = python.run([scriptPath, directory])
    if case .failure(let failure) = result { Issue.record("python: \(failure.reason)") }
    try #require((try? result.get()) != nil)
    let data = try Data(contentsOf: URL(fileURLWithPath: directory + "/expected.json"))
    return (directory, try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]))
  }

  @Test(
    "every codec, encoding and page version reads value for value",
    .requires(.python("pyarrow")))
  func valuesMatch() throws {
    let (directory, expected) = try Self.files()
    let kinds = try #require(expected["kinds"] as? [String])
    #expect(kinds.count == 16)
    let text = try #require(expected["text"] as? [Any]).map { $0 as? String }
    let n32 = try #require(expected["n32"] as? [Any]).map { ($0 as? NSNumber)?.int64Value }
    let n64 = try #require(expected["n64"] as? [String]).map { Int64($0) }
    let label = try #require(expected["label"] as? [String])
    #expect(text.contains(nil) && n32.contains(nil), "the columns have nulls")
    for kind in kinds {
      let file = try ParquetFile(path: directory + "/" + kind)
      #expect(file.rowCount == text.count, "\(kind)")
      #expect(file.rowGroupRowCounts.count == 4, "\(kind): several row groups")
      #expect(file.columns.map(\.name) == ["text", "n32", "n64", "label", "score"])
      #expect(file.columns[0].isText && file.columns[0].isOptional)
      #expect(!file.columns[4].isReadable, "doubles are not read")
      var texts: [String?] = []
      var ints32: [Int64?] = []
      var ints64: [Int64?] = []
      var labels: [String?] = []
      for group in 0..<file.rowGroupRowCounts.count {
        texts += try file.column("text", rowGroup: group).map { $0?.string }
        ints32 += try file.column("n32", rowGroup: group).map { value -> Int64? in
          if case .integer(let number)? = value { return number }
          return nil
        }
        ints64 += try file.column("n64", rowGroup: group).map { value -> Int64? in
          if case .integer(let number)? = value { return number }
          return nil
        }
        labels += try file.column("label", rowGroup: group).map { $0?.string }
      }
      #expect(texts == text, "\(kind): text")
      #expect(ints32 == n32, "\(kind): n32")
      #expect(ints64 == n64, "\(kind): n64")
      #expect(labels == label.map { Optional($0) }, "\(kind): label")
      #expect(throws: ParquetError.self) { try file.column("score", rowGroup: 0) }
    }
  }

  @Test("corpora in Parquet read as the JSON formats", .requires(.python("pyarrow")))
  func corpora() throws {
    let (directory, _) = try Self.files()
    let docs = try CorpusReader(path: directory + "/docs.parquet")
    #expect(docs.format == .jsonl)
    var texts: [String] = []
    while let record = try docs.next() {
      if case .document(let document) = record { texts.append(document.text) }
    }
    #expect(texts == ["first document", "third 文档"])
    #expect(docs.statistics.records == 4)
    #expect(docs.statistics.rejected[.missingField] == 1, "a null text is a missing field")
    #expect(docs.statistics.rejected[.emptyText] == 1)

    let alpaca = try CorpusReader(path: directory + "/alpaca.parquet")
    #expect(alpaca.format == .alpaca)
    var conversations: [Conversation] = []
    while let record = try alpaca.next() {
      if case .conversation(let conversation) = record { conversations.append(conversation) }
    }
    #expect(conversations.count == 2)
    #expect(conversations.first?.messages.map(\.content) == ["问", "答"])

    let binary = try CorpusReader(path: directory + "/binary.parquet", format: .jsonl)
    while try binary.next() != nil {}
    #expect(binary.statistics.accepted == 1)
    #expect(binary.statistics.rejected[.invalidUTF8] == 1)
  }

  @Test("unsupported files give errors naming the file and column", .requires(.python("pyarrow")))
  func unsupported() throws {
    let (directory, _) = try Self.files()
    let brotli = try ParquetFile(path: directory + "/BROTLI.parquet")
    #expect {
      try brotli.column("text", rowGroup: 0)
    } throws: { error in
      let text = "\(error)"
      return text.contains("BROTLI.parquet") && text.contains("column 'text'")
        && text.contains("codec BROTLI is not supported")
    }
    #expect {
      try ParquetFile(path: directory + "/nested.parquet")
    } throws: { error in
      "\(error)".contains("nested.parquet") && "\(error)".contains("nested columns")
    }
    #expect {
      try CorpusReader(path: directory + "/nested.parquet")
    } throws: { "\($0)".contains("nested.parquet") }
  }

  @Test("truncated and corrupted files throw, never crash", .requires(.python("pyarrow")))
  func hostile() throws {
    let (directory, _) = try Self.files()
    for name in ["SNAPPY-dict-v1.parquet", "ZSTD-plain-v2.parquet", "GZIP-dict-v2.parquet"] {
      let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: directory + "/" + name)))
      let path = directory + "/hostile.parquet"
      func readAll() throws {
        let file = try ParquetFile(path: path)
        for group in 0..<file.rowGroupRowCounts.count {
          for column in file.columns where column.isReadable {
            _ = try file.column(column.name, rowGroup: group)
          }
        }
      }
      // Truncated anywhere: an error naming the file.
      for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 97)) {
        try Data(bytes[..<length]).write(to: URL(fileURLWithPath: path))
        #expect(throws: ParquetError.self, "\(name) cut at \(length)") { try readAll() }
      }
      // Corrupted bytes and huge lengths: an error or (where the damage is in the values) data,
      // never a crash.
      var state: UInt64 = 7
      for round in 0..<300 {
        var damaged = bytes
        for _ in 0..<(1 + round % 4) {
          state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
          let index = Int((state >> 33) % UInt64(damaged.count))
          damaged[index] = round % 3 == 0 ? 0xFF : UInt8(truncatingIfNeeded: state >> 13)
        }
        try Data(damaged).write(to: URL(fileURLWithPath: path))
        _ = try? readAll()
      }
      // A footer length larger than the file.
      var footer = bytes
      footer.replaceSubrange(
        (footer.count - 8)..<(footer.count - 4), with: [0xFF, 0xFF, 0xFF, 0x7F])
      try Data(footer).write(to: URL(fileURLWithPath: path))
      #expect {
        try readAll()
      } throws: { "\($0)".contains("hostile.parquet") && "\($0)".contains("footer length") }
    }
  }
}
