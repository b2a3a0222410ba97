import Foundation
import MiniAutograd
import MiniLlama
import MiniTensor
import MiniTokenize
import MiniTrain
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// The path of a file in `Tests/MiniTrainTests/Fixtures`.
package func fixturePath(_ name: String, file: String = #filePath) -> String {
  URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("MiniTrainTests/Fixtures").appendingPathComponent(name).path
}

/// A tiny Llama for fast tests: 2 layers of width 32, GQA 4/2.
package func tinyConfig(vocabulary: Int = 64, maxPositions: Int = 32) -> LlamaConfig {
  LlamaConfig(
    vocabSize: vocabulary, hiddenSize: 32, intermediateSize: 64, layerCount: 2, headCount: 4,
    kvHeadCount: 2, maxPositions: maxPositions)
}

/// Writes `tokens` as one shard with an index into `directory` (no tokenizer file: the index
/// names one that the loaders never read).
@discardableResult
package func writeDataset(
  _ documents: [[Int32]], vocabulary: Int, eos: Int = 0, into directory: String,
  tokenizerBytes: [UInt8]? = nil
) throws -> TokenDataset {
  try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  let writer = TokenShardWriter(
    directory: directory, vocabularySize: vocabulary, eosID: eos, shardTokenLimit: 1 << 30)
  for document in documents {
    try document.withUnsafeBufferPointer { try writer.append(document: $0) }
  }
  let shards = try writer.commit()
  var sha = String(repeating: "0", count: 64)
  if let tokenizerBytes {
    try Data(tokenizerBytes).write(
      to: URL(fileURLWithPath: directory + "/tokenizer.model"))
    sha = SentencePieceTokenizerHash.hex(tokenizerBytes)
  }
  let shardList = shards.map {
    "{\"file\": \"\($0.file)\", \"tokens\": \($0.tokens), \"documents\": \($0.documents)}"
  }.joined(separator: ", ")
  let total = shards.reduce(0) { $0 + $1.tokens }
  let index = """
    {"format": "minillm-token-shards", "version": 1,
     "tokenizer": {"file": "tokenizer.model", "sha256": "\(sha)", "vocab_size": \(vocabulary),
                   "eos_id": \(eos)},
     "token_width": \(TokenShardHeader.tokenWidth(forVocabularySize: vocabulary)),
     "minimum_document_tokens": 1, "shards": [\(shardList)], "total_tokens": \(total),
     "total_documents": \(documents.count), "sources": []}
    """
  try Data(index.utf8).write(to: URL(fileURLWithPath: directory + "/index.json"))
  return try TokenDataset(directory: directory)
}

/// SHA-256 of a tokenizer file the way the index records it.
package enum SentencePieceTokenizerHash {
  package static func hex(_ bytes: [UInt8]) -> String {
    (try? SentencePieceTokenizer(modelBytes: bytes).sha256) ?? String(repeating: "0", count: 64)
  }
}

/// Documents of tokens with a learnable structure: each continues an arithmetic pattern.
package func patternDocuments(count: Int, vocabulary: Int, seed: UInt64 = 1) -> [[Int32]] {
  var rng = PhiloxRNG(seed: seed)
  return (0..<count).map { _ in
    let length = 20 + Int(rng.nextUInt32() % 40)
    let start = Int(rng.nextUInt32() % UInt32(vocabulary - 1)) + 1
    let stride = Int(rng.nextUInt32() % 3) + 1
    return (0..<length).map { Int32(1 + (start + $0 * stride) % (vocabulary - 1)) } + [0]
  }
}

/// The arena's values, gradients-free state as bit patterns: values, moments.
package func arenaBits(_ arena: ParameterArena) -> (
  values: [UInt32], first: [UInt32], second: [UInt32]
) {
  let (first, second) = arena.moments
  return (
    arena.values.scalars.map(\.bitPattern), first.scalars.map(\.bitPattern),
    second.scalars.map(\.bitPattern)
  )
}

/// The per-step training losses of a metrics file, by step (the last line of each step).
package func stepLosses(_ path: String) -> [Int: Float] {
  var result: [Int: Float] = [:]
  for record in MetricsLog.read(path: path) {
    guard let step = record["step"] as? Int, record["event"] == nil, record["eval_loss"] == nil,
      let loss = record["loss"] as? NSNumber
    else { continue }
    result[step] = loss.floatValue
  }
  return result
}

/// Why a fixture built once per test process is not there: its inputs are missing
/// (`isFailure` false) or building it failed (`isFailure`).
package struct FixtureUnavailable: Error, CustomStringConvertible {
  package let description: String
  package var isFailure = false

  package init(description: String, isFailure: Bool = false) {
    self.description = description
    self.isFailure = isFailure
  }
}

/// The fixture of `outcome`, or `nil` after recording why `test` cannot run. A test whose inputs
/// may be missing on a user's machine says so with a `.requires(...)` trait, which skips it
/// there; reaching this point without them is a failure.
package func fixture<T>(_ outcome: Result<T, FixtureUnavailable>, for test: String) -> T? {
  switch outcome {
  case .success(let value): return value
  case .failure(let reason) where reason.isFailure:
    Issue.record("\(reason)")
    return nil
  case .failure(let reason):
    Issue.record("\(test) cannot run: \(reason)")
    return nil
  }
}
