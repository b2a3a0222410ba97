import Foundation
import MiniTokenize
import TestSupport
import Testing

@Suite("PretrainPipeline")
struct PretrainPipelineTests {
  /// Good documents from the training lines, plus some too short to keep.
  static func corpus() -> (good: [String], short: [String]) {
    (trainingLines(count: 240, seed: 3).map { $0 + " " + $0 }, ["a", "好", "1"])
  }

  /// Writes a JSONL file, a JSON-array file and a text file holding the good and short documents
  /// and bad records of every kind; returns the paths and the injected counts per reason.
  static func writeCorpus(in directory: String) throws -> (
    paths: [String], injected: [String: [RejectReason: Int]]
  ) {
    let (good, short) = corpus()
    func json(_ text: String) throws -> String {
      let data = try JSONSerialization.data(withJSONObject: ["text": text, "meta": ["id": 1]])
      return String(decoding: data, as: UTF8.self)
    }
    var jsonl: [UInt8] = []
    for (index, text) in good[0..<120].enumerated() {
      jsonl += Array(try json(text).utf8) + [0x0A]
      switch index {
      case 10: jsonl += Array(#"{"text": "unterminated"#.utf8) + [0x0A]
      case 20:
        jsonl += Array(#"{"text": "bad "#.utf8) + [0xFF, 0xFE] + Array(#"" }"#.utf8) + [0x0A]
      case 30: jsonl += Array(#"{"content": "no text member"}"#.utf8) + [0x0A]
      case 40: jsonl += Array(#"{"text": 42}"#.utf8) + [0x0A]
      case 50: jsonl += Array(#"{"text": "   "}"#.utf8) + [0x0A]
      case 60: jsonl += Array("not json at all\n".utf8)
      case 70: jsonl += Array(#"{"text": "lone \ud800 surrogate"}"#.utf8) + [0x0A, 0x0A]
      default: break
      }
    }
    for text in short { jsonl += Array(try json(text).utf8) + [0x0A] }
    let jsonlPath = try writeBytes(jsonl, named: "part-1.jsonl", in: directory)

    var array: [UInt8] = Array("[\n".utf8)
    for (index, text) in good[120..<200].enumerated() {
      array += Array(try json(text).utf8) + Array(",\n".utf8)
      switch index {
      case 5: array += Array(#"{"text" "missing colon"},"#.utf8) + [0x0A]
      case 15: array += Array(#"{"text": ["a list"]},"#.utf8) + [0x0A]
      case 25: array += Array(#"{"text": ""},"#.utf8) + [0x0A]
      case 35: array += Array(#"{"text": "x"#.utf8) + [0xC0, 0xAF] + Array(#""},"#.utf8) + [0x0A]
      default: break
      }
    }
    array += Array(try json(good[200]).utf8) + Array("\n]\n".utf8)
    let arrayPath = try writeBytes(array, named: "part-2.json", in: directory)

    var text: [UInt8] = []
    for (index, line) in good[201...].enumerated() {
      text += Array(line.utf8) + [0x0A]
      if index == 3 { text += Array("bad bytes ".utf8) + [0xE4, 0xB8] + [0x0A] }
      if index == 4 { text += Array("   \n\n".utf8) }
    }
    let textPath = try writeBytes(text, named: "part-3.txt", in: directory)
    return (
      [jsonlPath, arrayPath, textPath],
      [
        jsonlPath: [
          .invalidJSON: 2, .invalidUTF8: 2, .missingField: 1, .wrongType: 1, .emptyText: 1,
        ],
        arrayPath: [.invalidJSON: 1, .wrongType: 1, .emptyText: 1, .invalidUTF8: 1],
        textPath: [.invalidUTF8: 1],
      ]
    )
  }

  static func run(
    _ inputs: [String], tokenizer: SentencePieceTokenizer, output: String,
    configure: (inout PretrainOptions) -> Void = { _ in }
  ) async throws -> TokenShardIndex {
    var options = PretrainOptions()
    options.batchBytes = 300
    options.shardTokenLimit = 2_000
    options.maximumBadFraction = 0.1
    configure(&options)
    return try await PretrainPipeline.run(
      inputs: inputs, tokenizer: tokenizer,
      tokenizerFile: ("tokenizer.model", tokenizer.modelBytes),
      output: output, options: options)
  }

  @Test("Injected bad records are counted exactly per source and reason; the tokens are right")
  func injectedBadRecords() async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let tokenizer = try trainTinyModel()
    let (paths, injected) = try Self.writeCorpus(in: directory)
    let output = directory + "/shards"
    _ = try await Self.run(paths, tokenizer: tokenizer, output: output)

    let index = try TokenShardIndex.read(directory: output)
    #expect(index.sources.map(\.path) == paths)
    for source in index.sources {
      #expect(source.rejected == injected[source.path], "\(source.path)")
    }
    #expect(index.sources[0].firstRejections.map(\.line) == [12, 23, 34, 45, 56])
    #expect(
      index.sources[0].firstRejections.map(\.reason) == [
        .invalidJSON, .invalidUTF8, .missingField, .wrongType, .emptyText,
      ])
    let (good, short) = Self.corpus()
    #expect(index.sources.map(\.tooShort) == [short.count, 0, 0])
    #expect(index.sources.map(\.documents) == [120, 81, good.count - 201])
    #expect(index.totalDocuments == good.count)
    #expect(index.shards.count > 1)
    #expect(index.tokenizer.sha256 == tokenizer.sha256)
    #expect(index.tokenWidth == 2)

    let eos = Int32(try #require(tokenizer.specialIDs.eos))
    var expected: [Int32] = []
    for text in good {
      try tokenizer.encode(text, appendingTo: &expected)
      expected.append(eos)
    }
    let dataset = try TokenDataset(directory: output)
    #expect(dataset.count == expected.count)
    #expect(try dataset.window(at: 0, count: dataset.count) == expected)
    #expect(try dataset.window(at: 1_990, count: 25) == Array(expected[1_990..<2_015]))
    let copied = try SentencePieceTokenizer(contentsOf: output)
    #expect(copied.modelBytes == tokenizer.modelBytes)

    // The index on disk names the reasons in snake case.
    let text = try String(contentsOfFile: output + "/index.json", encoding: .utf8)
    #expect(text.contains("\"invalid_utf8\" : 2"))
  }

  @Test("Re-running reproduces byte-identical shards and index; stale shards are removed")
  func reproducible() async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let tokenizer = try trainTinyModel()
    let (paths, _) = try Self.writeCorpus(in: directory)
    let first = directory + "/a"
    let second = directory + "/b"
    _ = try await Self.run(paths, tokenizer: tokenizer, output: first)
    _ = try await Self.run(paths, tokenizer: tokenizer, output: second) { $0.tasksInFlight = 1 }
    func contents(_ folder: String) throws -> [String: Data] {
      var result: [String: Data] = [:]
      for name in try FileManager.default.contentsOfDirectory(atPath: folder) {
        result[name] = try Data(contentsOf: URL(fileURLWithPath: folder + "/" + name))
      }
      return result
    }
    let firstFiles = try contents(first)
    #expect(firstFiles == (try contents(second)))
    // Without --overwrite an existing folder is refused; with it, a run with bigger shards
    // replaces the files and leaves no stale shard behind.
    await #expect(throws: PretrainError.self) {
      try await Self.run(paths, tokenizer: tokenizer, output: first)
    }
    let index = try await Self.run(paths, tokenizer: tokenizer, output: first) {
      $0.overwrite = true
      $0.shardTokenLimit = 1_000_000
    }
    #expect(index.shards.count == 1)
    #expect(
      Set(try FileManager.default.contentsOfDirectory(atPath: first)) == [
        "index.json", "tokenizer.model", "shard-00000.bin",
      ])
  }

  @Test("Above --max-bad-fraction the run fails and leaves no shard behind")
  func tooManyBadRecords() async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let tokenizer = try trainTinyModel()
    let (paths, _) = try Self.writeCorpus(in: directory)
    let output = directory + "/shards"
    await #expect(throws: PretrainError.self) {
      try await Self.run(paths, tokenizer: tokenizer, output: output) {
        $0.maximumBadFraction = 0.01
      }
    }
    #expect(try FileManager.default.contentsOfDirectory(atPath: output).isEmpty)
  }

  @Test("Conversation corpora are refused for pretraining")
  func refusesConversations() async throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let tokenizer = try trainTinyModel()
    await #expect(throws: PretrainError.self) {
      try await Self.run(
        [fixturePath("firefly.jsonl")], tokenizer: tokenizer, output: directory + "/out")
    }
  }
}
