import FuzzSupport
import MiniTokenize

/// SFT shards: the first byte picks the file (0: a JSONL shard read alone; otherwise the
/// folder's `index.json`, beside a small valid shard); the rest is its content. Every sample
/// of a dataset that loads is read.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSFTShard(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  let bytes = fuzzBytes(data, size)
  guard let selector = bytes.first else { return 0 }
  let content = UnsafeRawBufferPointer(rebasing: bytes.dropFirst())
  let dataset: SFTDataset?
  if selector & 1 == 0 {
    let path = FuzzScratch.write(content, name: "sft-00000.jsonl")
    dataset = try? SFTDataset(files: [path], vocabularySize: 300)
  } else {
    let folder = FuzzScratch.emptyFolder("sft")
    let shard = #"{"input_ids": [1, 2, 3, 4], "loss_mask": [0, 0, 1, 1]}"# + "\n"
    _ = FuzzScratch.write(Array(shard.utf8), name: "sft/shard-00000.jsonl")
    _ = FuzzScratch.write(content, name: "sft/index.json")
    dataset = try? SFTDataset(directory: folder)
  }
  guard let dataset else { return 0 }
  for index in 0..<min(dataset.count, 10_000) {
    let sample = dataset[index]
    precondition(sample.inputIDs.count == sample.lossMask.count, "SFT: mask length")
    precondition(
      sample.inputIDs.allSatisfy { $0 >= 0 && Int($0) < dataset.vocabularySize },
      "SFT: id outside the vocabulary")
    _ = dataset.length(of: index)
  }
  return 0
}
