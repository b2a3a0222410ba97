import Foundation
import MiniTokenize
import TestSupport
import Testing

/// `--text-column`: the member holding a document's text in JSON records and Parquet rows.
@Suite("CorpusReader text column")
struct TextColumnTests {
  static func documents(_ reader: CorpusReader) throws -> [String] {
    var texts: [String] = []
    while let record = try reader.next() {
      if case .document(let document) = record { texts.append(document.text) }
    }
    return texts
  }

  @Test func jsonLinesAndArraysReadTheNamedMember() throws {
    let directory = try temporaryDirectory()
    let lines = try writeFile(
      #"{"id": 1, "content": "第一篇文档", "text": 5}"# + "\n"
        + #"{"id": 2, "content": "second document"}"# + "\n", named: "a.jsonl", in: directory)
    let reader = try CorpusReader(path: lines, textColumn: "content")
    #expect(reader.format == .jsonl)
    #expect(try Self.documents(reader) == ["第一篇文档", "second document"])

    let array = try writeFile(
      #"[{"body": "one"}, {"body": "two"}, {"other": "three"}]"#, named: "b.json", in: directory)
    let arrayReader = try CorpusReader(path: array, textColumn: "body")
    #expect(arrayReader.format == .json)
    #expect(try Self.documents(arrayReader) == ["one", "two"])
    #expect(arrayReader.statistics.rejected[.missingField] == 1, "a later record without it")

    // Without the option, `text` as before.
    let plain = try writeFile(#"{"text": "as before"}"# + "\n", named: "c.jsonl", in: directory)
    #expect(try Self.documents(CorpusReader(path: plain)) == ["as before"])
    // Plain text has no columns: lines are documents.
    let text = try writeFile("line one\nline two\n", named: "d.txt", in: directory)
    #expect(
      try Self.documents(CorpusReader(path: text, textColumn: "x")) == ["line one", "line two"])
  }

  @Test func aMissingOrNonStringColumnIsOneErrorNamingFileAndColumn() throws {
    let directory = try temporaryDirectory()
    let lines = try writeFile(
      #"{"id": 1, "content": "text"}"# + "\n", named: "records.jsonl", in: directory)
    #expect {
      try Self.documents(CorpusReader(path: lines, textColumn: "body"))
    } throws: { error in
      let text = "\(error)"
      return text.contains("records.jsonl") && text.contains("'body'") && text.contains("line 1")
    }
    #expect {
      try Self.documents(CorpusReader(path: lines, textColumn: "id"))
    } throws: { error in
      let text = "\(error)"
      return text.contains("records.jsonl") && text.contains("'id'")
        && text.contains("not a string")
    }
    #expect {
      try CorpusReader(path: lines, format: .alpaca, textColumn: "content")
    } throws: { "\($0)".contains("records.jsonl") && "\($0)".contains("alpaca") }
  }

  @Test func thePretrainPipelineReadsTheColumn() async throws {
    let directory = try temporaryDirectory()
    let tokenizer = try trainTinyModel()
    var body = ""
    for line in trainingLines(count: 50) {
      body += #"{"content": \#(String(decoding: try JSONEncoder().encode(line), as: UTF8.self))}"#
      body += "\n"
    }
    let input = try writeFile(body, named: "corpus.jsonl", in: directory)
    var options = PretrainOptions()
    options.textColumn = "content"
    let index = try await PretrainPipeline.run(
      inputs: [input], tokenizer: tokenizer,
      tokenizerFile: ("tokenizer.model", tokenizer.modelBytes), output: directory + "/shards",
      options: options)
    #expect(index.totalDocuments > 40)
    options.textColumn = "missing"
    options.overwrite = true
    await #expect {
      try await PretrainPipeline.run(
        inputs: [input], tokenizer: tokenizer,
        tokenizerFile: ("tokenizer.model", tokenizer.modelBytes), output: directory + "/shards",
        options: options)
    } throws: { "\($0)".contains("corpus.jsonl") && "\($0)".contains("'missing'") }
  }

  @Test("Parquet: the named column, or an error naming it", .requires(.python("pyarrow")))
  func parquet() throws {
    let (directory, expected) = try ParquetPythonTests.files()
    let labels = try #require(expected["label"] as? [String])
    let path = directory + "/ZSTD-dict-v2.parquet"
    let reader = try CorpusReader(path: path, textColumn: "label")
    #expect(reader.format == .jsonl)
    #expect(try Self.documents(reader) == labels)
    #expect {
      try CorpusReader(path: path, textColumn: "body")
    } throws: { error in
      let text = "\(error)"
      return text.contains("ZSTD-dict-v2.parquet") && text.contains("no column 'body'")
        && text.contains("label")
    }
    #expect {
      try CorpusReader(path: path, textColumn: "n64")
    } throws: { error in
      "\(error)".contains("ZSTD-dict-v2.parquet") && "\(error)".contains("'n64' holds INT64")
    }
  }
}
