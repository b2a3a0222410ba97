import Foundation
import MiniTensor
import MiniTokenize
import Synchronization

/// `bench tokenize` for a byte-level BPE `tokenizer.json`: encodes every line of the corpus
/// on one thread and on every core, and with `--compare-tokenizers` runs Hugging Face
/// `tokenizers` (Rust, through Python) on the same lines in the same run.
enum ByteLevelBench {
  /// The `tokenizer.json` that `path` names (the file, or inside a folder without
  /// `tokenizer.model`), or `nil` when it names a sentencepiece model.
  static func tokenizerJSON(at path: String) -> String? {
    if path.hasSuffix(".json") { return path }
    let folder = URL(fileURLWithPath: path)
    let json = folder.appendingPathComponent("tokenizer.json").path
    let model = folder.appendingPathComponent("tokenizer.model").path
    let files = FileManager.default
    return files.fileExists(atPath: json) && !files.fileExists(atPath: model) ? json : nil
  }

  static let peerScript = #"""
    import json, sys, time
    from tokenizers import Tokenizer
    tok = Tokenizer.from_file(sys.argv[1])
    lines = [l for l in open(sys.argv[2], encoding="utf-8", newline="").read().split("\n") if l.strip()]
    start = time.perf_counter()
    batch = tok.encode_batch(lines, add_special_tokens=False)
    batch_seconds = time.perf_counter() - start
    start = time.perf_counter()
    single = [tok.encode(l, add_special_tokens=False) for l in lines]
    single_seconds = time.perf_counter() - start
    tokens = sum(len(e.ids) for e in batch)
    print(json.dumps({"tokens": tokens, "batch_seconds": batch_seconds,
                      "single_seconds": single_seconds,
                      "same_single": tokens == sum(len(e.ids) for e in single)}))
    """#

  static func run(json: String, corpus: String, python: String, compare: Bool) throws {
    let tokenizer = try ByteLevelBPETokenizer(contentsOf: json)
    let text = try String(contentsOfFile: corpus, encoding: .utf8)
    let lines = text.unicodeScalars.split(separator: "\n").map { String($0) }
      .filter { !$0.allSatisfy(\.isWhitespace) }
    let bytes = lines.reduce(0) { $0 + $1.utf8.count }
    // One thread, then one chunk of lines per core (a fresh tokenizer each time: cold caches).
    var started = DispatchTime.now().uptimeNanoseconds
    var tokens = 0
    let single = try ByteLevelBPETokenizer(contentsOf: json)
    for line in lines { tokens += try single.encode(line).count }
    let singleSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let counted = TokenCount()
    let shared = tokenizer
    started = DispatchTime.now().uptimeNanoseconds
    DispatchQueue.concurrentPerform(iterations: cores) { core in
      var ids: [Int32] = []
      var index = core
      while index < lines.count {
        ids.removeAll(keepingCapacity: true)
        try? shared.encode(lines[index], appendingTo: &ids)
        counted.add(ids.count)
        index += cores
      }
    }
    let parallelSeconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
    let parallelTokens = counted.total.withLock { $0 }
    var result: [String: Any] = [
      "benchmark": "tokenize", "tokenizer": "byte-level-bpe", "lines": lines.count,
      "bytes": bytes, "tokens": tokens, "cores": cores,
      "seconds_1_thread": rounded(singleSeconds, 3),
      "mb_per_s_1_thread": rounded(Double(bytes) / singleSeconds / 1e6, 3),
      "seconds_all_cores": rounded(parallelSeconds, 3),
      "mb_per_s_all_cores": rounded(Double(bytes) / parallelSeconds / 1e6, 3),
      "tokens_per_s_1_thread": rounded(Double(tokens) / singleSeconds, 0),
      "tokens_per_s_all_cores": rounded(Double(tokens) / parallelSeconds, 0),
    ]
    print(
      String(
        format:
          "minillm byte-level BPE: %d lines, %d tokens, %.2f MB: %.2f MB/s (%.0f tokens/s) on 1 thread, %.2f MB/s (%.0f tokens/s) on %d cores",
        lines.count, tokens, Double(bytes) / 1e6, Double(bytes) / singleSeconds / 1e6,
        Double(tokens) / singleSeconds, Double(bytes) / parallelSeconds / 1e6,
        Double(tokens) / parallelSeconds, cores))
    guard parallelTokens == tokens else {
      throw CommandLineError(
        "bench tokenize: \(parallelTokens) tokens on all cores, \(tokens) on one")
    }
    if compare {
      let script = NSTemporaryDirectory() + "/minillm-bench-tokenizers-\(getpid()).py"
      try Data(peerScript.utf8).write(to: URL(fileURLWithPath: script))
      defer { try? FileManager.default.removeItem(atPath: script) }
      let peer = try TokenizeBench.runProcessJSON(
        python: python, arguments: [script, json, corpus])
      guard let batch = peer["batch_seconds"] as? Double,
        let one = peer["single_seconds"] as? Double
      else { throw CommandLineError("bench tokenize: the tokenizers script printed no timings") }
      result["peer"] = peer
      result["same_tokens_as_peer"] = (peer["tokens"] as? Int) == tokens
      result["ratio_vs_encode_batch"] = rounded(batch / parallelSeconds, 3)
      result["ratio_vs_encode_1_thread"] = rounded(one / singleSeconds, 3)
      print(
        String(
          format:
            "tokenizers (Rust via Python): encode_batch %.2f MB/s (%.0f tokens/s; ours ×%.2f), encode per line %.2f MB/s (%.0f tokens/s; ours on 1 thread ×%.2f)",
          Double(bytes) / batch / 1e6, Double(tokens) / batch, batch / parallelSeconds,
          Double(bytes) / one / 1e6, Double(tokens) / one, one / singleSeconds))
    }
    let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
  }
}

/// Tokens counted by several threads.
private final class TokenCount: Sendable {
  let total = Mutex(0)
  func add(_ count: Int) { total.withLock { $0 += count } }
}
