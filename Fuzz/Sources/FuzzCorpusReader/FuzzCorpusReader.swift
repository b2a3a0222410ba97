import FuzzSupport
import MiniTokenize

/// Corpus files in every format, plain or zstd (told by its magic number). The first byte
/// picks the format (0: detected from the name and the records) and the file name; the rest is
/// the file. Every record is read (at most 10,000).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCorpusReader(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = fuzzBytes(data, size)
  guard let selector = bytes.first else { return 0 }
  let formats = CorpusFormat.allCases
  let format = selector == 0 ? nil : formats[Int(selector) % formats.count]
  let names = ["corpus.jsonl", "corpus.json", "corpus.txt", "corpus.tsv"]
  let name = names[Int(selector >> 6) % names.count]
  let path = FuzzScratch.write(UnsafeRawBufferPointer(rebasing: bytes.dropFirst()), name: name)
  guard
    let reader = try? CorpusReader(
      path: path, format: format, placeholders: ["name": "MiniLLM", "author": "fuzz"])
  else { return 0 }
  var records = 0
  while records < 10_000, let record = try? reader.next() {
    _ = record
    records += 1
  }
  _ = reader.progress
  return 0
}
