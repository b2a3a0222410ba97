import Foundation
import MiniTokenize
import TestSupport
import Testing

@Suite("SentencePieceTokenizer vocabulary file")
struct TokenizerVocabularyFileTests {
  @Test("NAME.vocab lists every id's piece and score in id order, written atomically")
  func listsEveryPieceAndScore() throws {
    let tokenizer = try trainTinyModel()
    let path = try temporaryDirectory() + "/tokenizer.vocab"
    try tokenizer.writeVocabulary(to: path)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text == tokenizer.vocabularyListing)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
    #expect(lines.count == tokenizer.vocabularySize)
    for (id, line) in lines.enumerated() {
      let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
      #expect(fields.count == 2, "line \(id + 1): \(line)")
      #expect(String(fields[0]) == tokenizer.piece(for: id), "piece of id \(id)")
      #expect(Float(String(fields[1])) == tokenizer.score(for: id), "score of id \(id)")
    }
    #expect(lines.contains { $0.hasPrefix("<|im_start|>\t") }, "user-defined pieces are listed")
    let leftovers = try FileManager.default.contentsOfDirectory(
      atPath: (path as NSString).deletingLastPathComponent)
    #expect(leftovers == ["tokenizer.vocab"], "no temporary file is left behind")
  }
}
