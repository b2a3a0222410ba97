import Foundation
import MiniTensor
import MiniTokenize
import MiniTrain
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// A fresh folder for one test, removed when the test process exits.
func scratchFolder(_ label: String) throws -> String {
  let root = (NSTemporaryDirectory() as NSString).appendingPathComponent(
    "minidistributed-tests-\(getpid())")
  let path = (root as NSString).appendingPathComponent(
    "\(label.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString.prefix(8))")
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  ScratchCleanup.register(root)
  return path
}

/// Removes the scratch root at exit (once per process).
enum ScratchCleanup {
  static let registered: Void = {
    atexit {
      let root = (NSTemporaryDirectory() as NSString).appendingPathComponent(
        "minidistributed-tests-\(getpid())")
      try? FileManager.default.removeItem(atPath: root)
    }
  }()

  static func register(_ root: String) { _ = registered }
}

/// A 2-layer Llama of width 32 over a 64-token vocabulary with a 16-token context (`tiny.json`
/// of Docs/Training.md, "Several processes").
func writeTinyConfig(to path: String) throws {
  let config = """
    {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "vocab_size": 64,
     "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
     "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 16,
     "rms_norm_eps": 1e-5, "tie_word_embeddings": false, "eos_token_id": 0}
    """
  try Data(config.utf8).write(to: URL(fileURLWithPath: path))
}

/// Token shards of 120 documents (about 5,000 tokens) that each continue an arithmetic pattern
/// over ids 1–63, with EOS 0: learnable in a few steps. The index names a tokenizer file that
/// is absent (pretraining then writes no tokenizer into the model).
func writePatternData(into directory: String) throws {
  try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  let vocabulary = 64
  let writer = TokenShardWriter(
    directory: directory, vocabularySize: vocabulary, eosID: 0, shardTokenLimit: 1 << 30)
  var rng = PhiloxRNG(seed: 7)
  for _ in 0..<120 {
    let length = 20 + Int(rng.nextUInt32() % 40)
    let start = Int(rng.nextUInt32() % UInt32(vocabulary - 1))
    let stride = Int(rng.nextUInt32() % 3) + 1
    let document = (0..<length).map { Int32(1 + (start + $0 * stride) % (vocabulary - 1)) } + [0]
    try document.withUnsafeBufferPointer { try writer.append(document: $0) }
  }
  let shards = try writer.commit()
  let list = shards.map {
    "{\"file\": \"\($0.file)\", \"tokens\": \($0.tokens), \"documents\": \($0.documents)}"
  }.joined(separator: ", ")
  let index = """
    {"format": "minillm-token-shards", "version": 1,
     "tokenizer": {"file": "tokenizer.model", "sha256": "\(String(repeating: "0", count: 64))",
                   "vocab_size": \(vocabulary), "eos_id": 0},
     "token_width": \(TokenShardHeader.tokenWidth(forVocabularySize: vocabulary)),
     "minimum_document_tokens": 1, "shards": [\(list)],
     "total_tokens": \(shards.reduce(0) { $0 + $1.tokens }), "total_documents": 120, "sources": []}
    """
  try Data(index.utf8).write(to: URL(fileURLWithPath: directory + "/index.json"))
}

/// The commands of the first `sh` block under "## Several processes" in Docs/Training.md, with
/// continuation lines joined, each split into words.
func documentedCommands(file: String = #filePath) throws -> [[String]] {
  let docs = URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().appendingPathComponent("Docs/Training.md")
  let text = try String(contentsOf: docs, encoding: .utf8)
  guard let section = text.range(of: "\n## Several processes\n"),
    let open = text.range(of: "```sh\n", range: section.upperBound..<text.endIndex),
    let close = text.range(of: "```", range: open.upperBound..<text.endIndex)
  else {
    Issue.record("\(docs.path): no sh block under \"## Several processes\"")
    return []
  }
  let block = text[open.upperBound..<close.lowerBound].replacingOccurrences(of: "\\\n", with: " ")
  return block.split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
    .filter { !$0.isEmpty }
}

/// A finished process.
struct JobResult {
  var status: Int32
  var standardOutput: String
  var standardError: String
}

/// Runs `words` (an executable path and its arguments) in `folder` with `environment` added to
/// this process's; gives up (killing it) after `timeout` seconds, recording an issue.
func runJob(
  _ words: [String], in folder: String, environment: [String: String] = [:],
  timeout: Double = 120
) throws -> JobResult {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: words[0])
  process.arguments = Array(words.dropFirst())
  process.currentDirectoryURL = URL(fileURLWithPath: folder)
  process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
  let logs = try scratchFolder("logs")
  let files = [logs + "/stdout", logs + "/stderr"]
  for file in files { _ = FileManager.default.createFile(atPath: file, contents: nil) }
  let handles = try files.map { try FileHandle(forWritingTo: URL(fileURLWithPath: $0)) }
  process.standardOutput = handles[0]
  process.standardError = handles[1]
  try process.run()
  let deadline = Date().addingTimeInterval(timeout)
  while process.isRunning && Date() < deadline { usleep(2000) }
  if process.isRunning {
    Issue.record("\(words.joined(separator: " ")) still running after \(timeout) s; killed")
    kill(process.processIdentifier, SIGKILL)
  }
  process.waitUntilExit()
  for handle in handles { try handle.close() }
  let text = files.map { (try? String(contentsOfFile: $0, encoding: .utf8)) ?? "" }
  return JobResult(
    status: process.terminationStatus, standardOutput: text[0], standardError: text[1])
}

/// The training loss of each step in a metrics file.
func stepLosses(_ path: String) -> [Int: Float] {
  var result: [Int: Float] = [:]
  for record in MetricsLog.read(path: path) {
    guard let step = record["step"] as? Int, record["event"] == nil,
      let loss = record["loss"] as? NSNumber
    else { continue }
    result[step] = loss.floatValue
  }
  return result
}

/// The held-out losses of a metrics file, in order.
func evaluationLosses(_ path: String) -> [Float] {
  MetricsLog.read(path: path).compactMap { ($0["eval_loss"] as? NSNumber)?.floatValue }
}

/// The lines of `text` that are JSON objects.
func jsonLines(_ text: String) -> [Substring] {
  text.split(separator: "\n").filter { $0.hasPrefix("{") && $0.hasSuffix("}") }
}

/// How many times `needle` occurs in `text`.
func occurrences(of needle: String, in text: String) -> Int {
  text.components(separatedBy: needle).count - 1
}
