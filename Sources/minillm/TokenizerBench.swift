import ArgumentParser
import Foundation
import MiniDemo
import MiniTensor
import MiniTokenize

struct TokenizeBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tokenize",
    abstract: "Tokens/s and MB/s of `data pretrain` on a Chinese corpus; ends with one JSON line.",
    discussion: """
      Without --input, builds a corpus of at least --megabytes from the Debian packages fortunes-zh
      and manpages-zh (repeated as needed), one document per line. With --peer SCRIPT, runs
      the Python sentencepiece script SCRIPT (one process) on the same file in the same run and
      reports the ratio. With a byte-level BPE tokenizer.json as --tokenizer, encodes the lines
      on one thread and on every core; --compare-tokenizers runs Hugging Face tokenizers on them.
      """
  )

  @Option(
    help: "A folder holding tokenizer.model or tokenizer.json, or the .model or .json file.")
  var tokenizer: String

  @Option(help: "A plain-text corpus (one document per line); default: built from Debian texts.")
  var input: String?

  @Option(help: "Size of the built corpus in MB.")
  var megabytes = 20.0

  @Option(help: "Path of spm_encode.py to run on the same corpus as the peer.")
  var peer: String?

  @Option(help: "Python interpreter for --peer (needs `pip install sentencepiece`).")
  var python = "python3"

  @Flag(help: "With a tokenizer.json: also run Python tokenizers (from --python) on the text.")
  var compareTokenizers = false

  @Option(help: "Keep the built corpus at this path instead of a temporary file.")
  var keepCorpus: String?

  func run() async throws {
    let bpe = ByteLevelBench.tokenizerJSON(at: tokenizer)
    let workDirectory = (NSTemporaryDirectory() as NSString).appendingPathComponent(
      "minillm-bench-tokenize-\(getpid())")
    try FileManager.default.createDirectory(
      atPath: workDirectory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: workDirectory) }
    let corpus: String
    if let input {
      corpus = input
    } else {
      corpus = keepCorpus ?? (workDirectory as NSString).appendingPathComponent("corpus.txt")
      let size = try BenchCorpus.write(to: corpus, minimumBytes: Int(megabytes * 1e6))
      printError(
        "[bench tokenize] built \(corpus): \(String(format: "%.1f", Double(size) / 1e6)) MB")
    }
    if let bpe {
      try ByteLevelBench.run(
        json: bpe, corpus: corpus, python: python, compare: compareTokenizers)
      return
    }
    let model = try loadTokenizer(tokenizer)
    var options = PretrainOptions()
    options.format = .text
    options.minimumDocumentTokens = 1  // encode and keep every document, as the peer does
    let started = DispatchTime.now().uptimeNanoseconds
    let index = try await runPretrain(
      inputs: [corpus], tokenizer: model,
      output: (workDirectory as NSString).appendingPathComponent("shards"), options: options,
      label: "bench tokenize")
    let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
    let bytes = try Self.textBytes(corpus)
    let peakRSS = BenchClock.peakRSSMegabytes()
    var result: [String: Any] = [
      "benchmark": "tokenize", "documents": index.totalDocuments, "tokens": index.totalTokens,
      "bytes": bytes, "seconds": rounded(seconds, 3),
      "tokens_per_s": rounded(Double(index.totalTokens) / seconds, 1),
      "mb_per_s": rounded(Double(bytes) / seconds / 1e6, 3),
      "peak_rss_mb": rounded(peakRSS, 1),
      "cores": ProcessInfo.processInfo.activeProcessorCount,
    ]
    print(
      String(
        format:
          "minillm data pretrain: %d documents, %d tokens in %.2f s: %.0f tokens/s, %.2f MB/s, peak RSS %.0f MB",
        index.totalDocuments, index.totalTokens, seconds, Double(index.totalTokens) / seconds,
        Double(bytes) / seconds / 1e6, peakRSS))
    if let peer {
      let peerResult = try Self.runPeer(
        python: python, script: peer, model: tokenizer, corpus: corpus)
      result["peer"] = peerResult
      if let peerRate = peerResult["tokens_per_s"] as? Double, peerRate > 0 {
        let ratio = Double(index.totalTokens) / seconds / peerRate
        result["ratio_vs_peer"] = rounded(ratio, 3)
        print(
          String(
            format: "python sentencepiece (1 process): %.0f tokens/s; ratio %.2f×", peerRate, ratio)
        )
      }
      if let peerTokens = peerResult["tokens"] as? Int {
        result["same_tokens_as_peer"] = peerTokens == index.totalTokens
      }
    }
    try printJSON(result)
  }

  /// UTF-8 bytes of the non-blank lines (what is tokenised), as the peer counts them.
  static func textBytes(_ path: String) throws -> Int {
    let reader = try CorpusReader(path: path, format: .text)
    var total = 0
    while case .document(let document)? = try reader.next() { total += document.text.utf8.count }
    return total
  }

  static func runPeer(python: String, script: String, model: String, corpus: String) throws
    -> [String: Any]
  {
    try runProcessJSON(
      python: python,
      arguments: [
        script, "--model", SentencePieceTokenizer.modelPath(for: model), "--input", corpus,
      ])
  }

  /// Runs `python arguments…`; the JSON object of its last line of output.
  static func runProcessJSON(python: String, arguments: [String]) throws -> [String: Any] {
    let script = arguments[0]
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [python] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0,
      let line = String(decoding: output, as: UTF8.self).split(separator: "\n").last,
      let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    else {
      throw CommandLineError(
        "--peer: \(script) failed (status \(process.terminationStatus)); is the peer library installed for \(python)?"
      )
    }
    return object
  }
}
