import Foundation
import MiniTokenize
import TestSupport
import Testing

@Suite("Streaming input")
struct InputTests {
  /// Reads every line of `path` with a deliberately tiny buffer.
  func lines(of path: String, chunkSize: Int) throws -> [String] {
    let (source, _) = try FileByteSource.opening(path)
    let input = BufferedInput(source: source, chunkSize: chunkSize)
    var result: [String] = []
    while let line = try input.nextLine() { result.append(String(decoding: line, as: UTF8.self)) }
    return result
  }

  @Test(
    "Lines split across chunks, CRLF, long lines and a missing final newline",
    arguments: [16, 1 << 20])
  func lineSplitting(chunkSize: Int) throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let long = String(repeating: "长行", count: 10_000)
    let text = "first\r\nsecond\n\n\(long)\nlast without newline"
    let path = try writeFile(text, named: "lines.txt", in: directory)
    #expect(
      try lines(of: path, chunkSize: chunkSize) == [
        "first", "second", "", long, "last without newline",
      ])
  }

  @Test(
    "zstd files (several frames, any level) stream to the same bytes as the plain file",
    .requires(.tool("zstd", package: "zstd")))
  func zstdStreaming() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var rng = SplitMix64(state: 5)
    let text =
      (0..<5_000).map { index in
        "{\"text\": \"文档 \(index) \(rng.next())\"}"
      }.joined(separator: "\n") + "\n"
    let path = try writeFile(text, named: "corpus.jsonl", in: directory)
    let compressed = try zstdCompressed(path, extraArguments: ["-19"])
    #expect(try lines(of: compressed, chunkSize: 64) == lines(of: path, chunkSize: 64))
    // Two frames back to back decode as one stream.
    let frame = try Data(contentsOf: URL(fileURLWithPath: compressed))
    let twice = try writeBytes(Array(frame) + Array(frame), named: "twice.jsonl.zst", in: directory)
    #expect(try lines(of: twice, chunkSize: 1 << 16).count == 10_000)
    // A truncated stream is an error naming the file, not a silent short read.
    let truncated = try writeBytes(
      Array(frame.prefix(frame.count / 2)), named: "cut.jsonl.zst", in: directory)
    #expect(throws: InputError.self) { try lines(of: truncated, chunkSize: 1 << 16) }
    let reader = try CorpusReader(path: compressed)
    #expect(reader.format == .jsonl)
    var count = 0
    while try reader.next() != nil { count += 1 }
    #expect(count == 5_000)
  }

  @Test(
    "JSON arrays stream element by element, whatever the chunk size", arguments: [1, 7, 1 << 16])
  func arraySplitting(chunkSize: Int) throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let text = """
      [ {"a": "x,]}"}, [1, [2]],
        "s\\"", 3 ,{"b": {"c": []}} ]\n
      """
    let path = try writeFile(text, named: "array.json", in: directory)
    let (source, _) = try FileByteSource.opening(path)
    let splitter = JSONArraySplitter(
      input: BufferedInput(source: source, chunkSize: chunkSize), path: path)
    var elements: [String] = []
    var lines: [Int] = []
    while let (bytes, line) = try splitter.next() {
      elements.append(
        String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
      lines.append(line)
    }
    #expect(elements == [#"{"a": "x,]}"}"#, "[1, [2]]", #""s\"""#, "3", #"{"b": {"c": []}}"#])
    #expect(lines == [1, 1, 2, 2, 2])
  }

  @Test(
    "Broken array structure is an error naming the file",
    arguments: ["[{\"a\": 1}", "[{\"a\": 1},]", "[1] 2", "{\"a\": 1}", "[{\"a\": \"unterminated]"])
  func brokenArrays(text: String) throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let path = try writeFile(text, named: "broken.json", in: directory)
    let (source, _) = try FileByteSource.opening(path)
    let splitter = JSONArraySplitter(input: BufferedInput(source: source), path: path)
    #expect(throws: InputError.self) {
      while try splitter.next() != nil {}
    }
  }
}
