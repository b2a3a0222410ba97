import Foundation
import MiniTokenize
import TestSupport
import Testing

/// Tokenizer models and corpus files written to break the readers: each must load or be
/// rejected with a clear error, in bounded memory, never crash.
@Suite("Hostile tokenizer and corpus input")
struct HostileTokenizeInputTests {
  /// The bytes of a trained model with the text of one two-letter ASCII piece replaced by
  /// `0xFF 0xFE` (not UTF-8), as the protobuf stores it: `0x0A 0x02 <text> 0x15 <score>`.
  func modelWithInvalidUTF8Piece() throws -> [UInt8] {
    let tokenizer = try trainTinyModel()
    let path = try temporaryDirectory() + "/tokenizer.model"
    try tokenizer.write(to: path)
    var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    for id in 0..<tokenizer.vocabularySize {
      guard tokenizer.kind(of: id) == .normal, let piece = tokenizer.piece(for: id),
        piece.utf8.count == 2, piece.utf8.allSatisfy({ $0 < 0x80 })
      else { continue }
      let pattern = [0x0A, 0x02] + Array(piece.utf8) + [0x15]
      guard let start = bytes.indices.first(where: { bytes[$0...].starts(with: pattern) })
      else { continue }
      bytes[start + 2] = 0xFF
      bytes[start + 3] = 0xFE
      return bytes
    }
    Issue.record("the trained model has no two-letter ASCII piece to break")
    return bytes
  }

  @Test func aPieceThatIsNotUTF8LoadsAndEncodes() throws {
    // Python's sentencepiece loads such a model; the native BPE encoder used to crash on it.
    let bytes = try modelWithInvalidUTF8Piece()
    let tokenizer = try SentencePieceTokenizer(modelBytes: bytes)
    for text in ["hello world", "你好，世界", "the theory of everything"] {
      var ids: [Int32] = []
      try tokenizer.encode(text, appendingTo: &ids)
      #expect(!ids.isEmpty)
      #expect(ids.allSatisfy { $0 >= 0 && Int($0) < tokenizer.vocabularySize })
      _ = try tokenizer.decode(ids.map(Int.init))
    }
  }

  @Test func aFiftyMegabyteSingleLineRecordIsReadOrRejected() throws {
    let directory = try temporaryDirectory()
    let path = directory + "/big.jsonl"
    var line = Data(#"{"text": ""#.utf8)
    line.append(Data(repeating: UInt8(ascii: "a"), count: 50 << 20))
    line.append(Data("\"}\n{\"text\": \"small\"}\n".utf8))
    try line.write(to: URL(fileURLWithPath: path))
    let reader = try CorpusReader(path: path, format: .jsonl)
    var texts: [String] = []
    while let record = try reader.next() {
      if case .document(let document) = record { texts.append(document.text) }
    }
    // The small record after the huge one is always read; the huge one is kept or counted.
    #expect(texts.last == "small")
    #expect(reader.statistics.records == 2)
    #expect(reader.statistics.accepted + reader.statistics.rejected.values.reduce(0, +) == 2)
  }

  @Test(arguments: [CorpusFormat.jsonl, .json])
  func jsonNested100000DeepIsRejectedWithoutCrashing(_ format: CorpusFormat) throws {
    let directory = try temporaryDirectory()
    let depth = 100_000
    let nested = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
    let text =
      format == .json
      ? "[{\"text\": \(nested)}, {\"text\": \"after\"}]"
      : "{\"text\": \(nested)}\n{\"text\": \"after\"}\n"
    let path = try writeFile(text, named: "deep.\(format.rawValue)", in: directory)
    let reader = try CorpusReader(path: path, format: format)
    var texts: [String] = []
    do {
      while let record = try reader.next() {
        if case .document(let document) = record { texts.append(document.text) }
      }
    } catch {
      // A JSON array whose structure cannot be followed is one clear error naming the file.
      #expect("\(error)".contains(path), "\(error)")
      return
    }
    #expect(texts == ["after"])
    #expect(reader.statistics.rejected.values.reduce(0, +) == 1)
  }
}
