import Foundation
import MiniTokenize
import TestSupport
import Testing

@Suite("Token shards")
struct TokenShardTests {
  @Test(
    "Writer and mmap reader agree for 2- and 4-byte tokens, across shard boundaries",
    arguments: [1_000, 70_000])
  func roundTrip(vocabularySize: Int) throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let writer = TokenShardWriter(
      directory: directory, vocabularySize: vocabularySize, eosID: 2, shardTokenLimit: 100)
    var rng = SplitMix64(state: UInt64(vocabularySize))
    var all: [Int32] = []
    for _ in 0..<50 {
      var document = (0..<(1 + rng.next(below: 30))).map { _ in
        Int32(rng.next(below: vocabularySize))
      }
      document.append(2)
      all += document
      try document.withUnsafeBufferPointer { try writer.append(document: $0) }
    }
    let shards = try writer.commit()
    #expect(shards.count > 1)
    #expect(shards.reduce(0) { $0 + $1.tokens } == all.count)
    #expect(shards.reduce(0) { $0 + $1.documents } == 50)
    var offset = 0
    for entry in shards {
      let shard = try TokenShard(path: directory + "/" + entry.file)
      #expect(shard.header.tokenWidth == (vocabularySize <= 65_536 ? 2 : 4))
      #expect(shard.header.vocabularySize == vocabularySize)
      #expect(shard.header.eosID == 2)
      #expect(
        try shard.window(at: 0, count: shard.count) == Array(all[offset..<offset + shard.count]))
      #expect(shard.count == entry.tokens)
      if shard.count > 5 {
        #expect(try shard.window(at: 3, count: 2) == Array(all[offset + 3..<offset + 5]))
      }
      offset += shard.count
    }
    let files = try FileManager.default.contentsOfDirectory(atPath: directory)
    #expect(!files.contains { $0.contains(".tmp") })
  }

  @Test("Discarded writers leave no files behind")
  func discard() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let writer = TokenShardWriter(
      directory: directory, vocabularySize: 100, eosID: 2, shardTokenLimit: 4)
    for _ in 0..<3 {
      try [Int32(5), 6, 7, 2].withUnsafeBufferPointer { try writer.append(document: $0) }
    }
    writer.discard()
    #expect(try FileManager.default.contentsOfDirectory(atPath: directory).isEmpty)
  }

  @Test("Headerless uint16 .bin files, as baby-llama2-chinese writes, read with a given width")
  func headerless() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let tokens: [UInt16] = [1, 300, 64_788, 2, 7]
    let bytes = tokens.flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }
    let path = try writeBytes(bytes, named: "pretrain_data.bin", in: directory)
    let shard = try TokenShard(headerlessPath: path, tokenWidth: 2, vocabularySize: 64_793)
    #expect(shard.count == 5)
    #expect(try shard.window(at: 1, count: 3) == [300, 64_788, 2])
    let small = try TokenShard(headerlessPath: path, tokenWidth: 2, vocabularySize: 1_000)
    #expect(
      throws: TokenShardError.tokenOutOfRange(
        path: path, position: 2, id: 64_788, vocabularySize: 1_000)
    ) {
      try small.window(at: 0, count: 5)
    }
    let odd = try writeBytes([1, 2, 3], named: "odd.bin", in: directory)
    #expect(throws: TokenShardError.self) {
      try TokenShard(headerlessPath: odd, tokenWidth: 2, vocabularySize: 10)
    }
    #expect(throws: TokenShardError.self) { try TokenShard(path: path) }
  }

  @Test("Malformed headers are rejected naming the field")
  func badHeaders() throws {
    let directory = try temporaryDirectory()
    defer { try? FileManager.default.removeItem(atPath: directory) }
    let good = TokenShardHeader(tokenWidth: 2, tokenCount: 3, vocabularySize: 100, eosID: 2)
    let tokens: [UInt8] = [5, 0, 6, 0, 2, 0]
    #expect(
      try TokenShard(path: writeBytes(good.bytes + tokens, named: "ok.bin", in: directory)).count
        == 3)
    var cases: [(String, [UInt8])] = []
    var magic = good.bytes
    magic[0] = UInt8(ascii: "X")
    cases.append(("magic", magic + tokens))
    var width = good.bytes
    width[12] = 3
    cases.append(("width", width + tokens))
    cases.append(("count", good.bytes + tokens.dropLast(2)))
    var eos = good.bytes
    eos[28] = 200
    cases.append(("EOS", eos + tokens))
    var version = good.bytes
    version[8] = 9
    cases.append(("version", version + tokens))
    cases.append(("short", Array(good.bytes.prefix(20))))
    for (name, bytes) in cases {
      let path = try writeBytes(bytes, named: "\(name).bin", in: directory)
      #expect(throws: TokenShardError.self, "\(name)") { try TokenShard(path: path) }
    }
  }
}
