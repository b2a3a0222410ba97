import FuzzSupport
import MiniTokenize

/// Parquet corpora: the input is the file. Its format is detected from its columns (a `text`
/// column, or the fields of a flat format), and every record is read (at most 10,000).
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParquet(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let path = FuzzScratch.write(fuzzBytes(data, size), name: "corpus.parquet")
  guard let reader = try? CorpusReader(path: path) else { return 0 }
  var records = 0
  while records < 10_000, let record = try? reader.next() {
    _ = record
    records += 1
  }
  _ = reader.progress
  return 0
}
