import Foundation
import MiniTokenize
import TestSupport
import Testing

@Suite("SentencePieceTokenizer vocabulary file and prompts")
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

  @Test("A prompt is the BOS id, then the text's ids")
  func promptStartsWithBOS() throws {
    let tokenizer = try trainTinyModel()
    let bos = try #require(tokenizer.specialIDs.bos)
    let text = "春眠不觉晓 hello"
    #expect(
      try tokenizer.encodePrompt(text) == [Int32(bos)] + tokenizer.encode(text).map(Int32.init))
    #expect(try tokenizer.encodePrompt("") == [Int32(bos)])
  }
}
