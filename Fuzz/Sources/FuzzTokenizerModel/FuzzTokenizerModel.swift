import FuzzSupport
import MiniTokenize

/// Texts every loaded tokenizer encodes and decodes: ASCII, CJK, emoji, spaces, control bytes.
let probes = ["Hello, world!", "你好，世界。", "  two  spaces\nand a line", "🙂 ok", "\u{0}\u{1}x"]

/// `tokenizer.model` (a sentencepiece protobuf, read by libsentencepiece through the shim and
/// by the Swift protobuf reader): every model that loads must encode and decode the probes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerModel(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = [UInt8](fuzzBytes(data, size))
  guard let tokenizer = try? SentencePieceTokenizer(modelBytes: bytes) else { return 0 }
  for text in probes {
    var ids: [Int32] = []
    guard (try? tokenizer.encode(text, appendingTo: &ids)) != nil else { continue }
    for id in ids {
      precondition(
        id >= 0 && Int(id) < tokenizer.vocabularySize,
        "tokenizer: id \(id) outside 0..<\(tokenizer.vocabularySize)")
    }
    _ = try? tokenizer.decode(ids.map(Int.init))
    _ = try? tokenizer.encodeAsPieces(text)
  }
  for id in 0..<min(tokenizer.vocabularySize, 512) {
    _ = tokenizer.piece(for: id)
    _ = tokenizer.score(for: id)
    _ = tokenizer.kind(of: id)
  }
  _ = try? tokenizer.decode([-1, tokenizer.vocabularySize, Int(Int32.max)])
  return 0
}
