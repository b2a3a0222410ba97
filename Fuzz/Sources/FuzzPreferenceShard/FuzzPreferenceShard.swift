import FuzzSupport
import MiniTokenize

/// Preference shards: the first byte picks the file (0: a JSONL shard read alone; otherwise
/// the folder's `index.json`, beside a small valid shard); the rest is its content. Every pair
/// of a dataset that loads is read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPreferenceShard(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = fuzzBytes(data, size)
  guard let selector = bytes.first else { return 0 }
  let content = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
  let dataset: PreferenceDataset?
  if selector & 1 == 0 {
    let path = FuzzScratch.write(content, name: "dpo-00000.jsonl")
    dataset = try? PreferenceDataset(files: [path], vocabularySize: 300)
  } else {
    let folder = FuzzScratch.emptyFolder("dpo")
    let shard =
      #"{"prompt_ids": [1, 2], "chosen_ids": [3, 4], "rejected_ids": [5]}"# + "\n"
    _ = FuzzScratch.write(Array(shard.utf8), name: "dpo/shard-00000.jsonl")
    _ = FuzzScratch.write(content, name: "dpo/index.json")
    dataset = try? PreferenceDataset(directory: folder)
  }
  guard let dataset else { return 0 }
  for index in 0..<min(dataset.count, 10_000) {
    _ = dataset[index]
  }
  return 0
}
