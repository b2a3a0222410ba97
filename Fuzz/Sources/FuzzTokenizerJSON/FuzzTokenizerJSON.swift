import FuzzSupport
import MiniTokenize

/// Texts every loaded tokenizer encodes and decodes: ASCII, CJK, emoji, spaces, digits,
/// contractions, control bytes and special tokens inside text.
let probes = [
  "Hello, world! I'm here.", "你好，世界。", "  two  spaces\n\n\tand a line\r\n", "🙂 ok 12345",
  "\u{0}\u{1}x", "<|im_start|>user\nhi<|im_end|>", "e\u{301}tude ＡＢＣ",
]

/// `tokenizer.json` (byte-level BPE, read with the strict JSON parser): every tokenizer that
/// loads must encode the probes to ids inside its vocabulary and decode them.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTokenizerJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = [UInt8](fuzzBytes(data, size))
  guard let tokenizer = try? ByteLevelBPETokenizer(json: bytes) else { return 0 }
  for text in probes {
    var ids: [Int32] = []
    guard (try? tokenizer.encode(text, appendingTo: &ids)) != nil else { continue }
    for id in ids {
      precondition(
        id >= 0 && Int(id) < tokenizer.vocabularySize,
        "tokenizer.json: id \(id) outside 0..<\(tokenizer.vocabularySize)")
    }
    _ = try? tokenizer.decode(ids.map(Int.init))
  }
  _ = try? tokenizer.decode([-1, tokenizer.vocabularySize, Int(Int32.max)])
  return 0
}
