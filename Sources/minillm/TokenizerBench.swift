import ArgumentParser
import Foundation
import MiniTokenize

struct TokenizeBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tokenize",
    abstract: "Tokens/s and MB/s of `data pretrain` on a Chinese corpus; ends with one JSON line.",
    discussion: """
      Without --input, builds a corpus of at least --megabytes from the Debian packages fortunes-zh
      and manpages-zh (repeated as needed), one document per line. With --peer, runs
      ../shared/bench/spm_encode.py (Python sentencepiece, one process) on the same file in the
      same run and reports the ratio.
      """
  )

  @Option(help: "A folder holding tokenizer.model, or the .model file (e.g. the ChatGLM2 model).")
  var tokenizer: String

  @Option(help: "A plain-text corpus (one document per line); default: built from Debian texts.")
  var input: String?

  @Option(help: "Size of the built corpus in MB.")
  var megabytes = 20.0

  @Option(help: "Path of spm_encode.py to run on the same corpus as the peer.")
  var peer: String?

  @Option(help: "Python interpreter for --peer (needs `pip install sentencepiece`).")
  var python = "python3"

  @Option(help: "Keep the built corpus at this path instead of a temporary file.")
  var keepCorpus: String?

  func run() async throws {
    let model = try loadTokenizer(tokenizer)
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
      let size = try DebianChineseCorpus.write(to: corpus, minimumBytes: Int(megabytes * 1e6))
      printError(
        "[bench tokenize] built \(corpus): \(String(format: "%.1f", Double(size) / 1e6)) MB")
    }
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
    var usage = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
    var result: [String: Any] = [
      "benchmark": "tokenize", "documents": index.totalDocuments, "tokens": index.totalTokens,
      "bytes": bytes, "seconds": round3(seconds),
      "tokens_per_s": round1(Double(index.totalTokens) / seconds),
      "mb_per_s": round3(Double(bytes) / seconds / 1e6),
      "peak_rss_mb": round1(Double(usage.ru_maxrss) / 1024),
      "cores": ProcessInfo.processInfo.activeProcessorCount,
    ]
    print(
      String(
        format:
          "minillm data pretrain: %d documents, %d tokens in %.2f s: %.0f tokens/s, %.2f MB/s, peak RSS %.0f MB",
        index.totalDocuments, index.totalTokens, seconds, Double(index.totalTokens) / seconds,
        Double(bytes) / seconds / 1e6, Double(usage.ru_maxrss) / 1024))
    if let peer {
      let peerResult = try Self.runPeer(
        python: python, script: peer, model: tokenizer, corpus: corpus)
      result["peer"] = peerResult
      if let peerRate = peerResult["tokens_per_s"] as? Double, peerRate > 0 {
        let ratio = Double(index.totalTokens) / seconds / peerRate
        result["ratio_vs_peer"] = round3(ratio)
        print(
          String(
            format: "python sentencepiece (1 process): %.0f tokens/s; ratio %.2f×", peerRate, ratio)
        )
      }
      if let peerTokens = peerResult["tokens"] as? Int {
        result["same_tokens_as_peer"] = peerTokens == index.totalTokens
      }
    }
    let json = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
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
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
      python, script, "--model", SentencePieceTokenizer.modelPath(for: model), "--input", corpus,
    ]
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
        "--peer: \(script) failed (status \(process.terminationStatus)); is sentencepiece installed for \(python)?"
      )
    }
    return object
  }
}

func round3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }

/// A Chinese corpus from Debian's fortunes-zh (Tang and Song poems, proverbs) and manpages-zh
/// (roff, reduced to paragraphs of text), read from the installed packages.
enum DebianChineseCorpus {
  static let fortunes = [
    "/usr/share/games/fortunes/tang300", "/usr/share/games/fortunes/song100",
    "/usr/share/games/fortunes/chinese",
  ]
  static let manuals = "/usr/share/man/zh_CN"

  /// Writes documents (one per line) to `path`, repeating them until `minimumBytes`; returns the size.
  static func write(to path: String, minimumBytes: Int) throws -> Int {
    var documents: [String] = []
    for file in fortunes {
      guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { continue }
      for entry in text.components(separatedBy: "\n%\n") {
        let plain = stripANSI(entry).split(separator: "\n").map {
          $0.trimmingCharacters(in: .whitespaces)
        }
        .joined()
        if !plain.isEmpty { documents.append(plain) }
      }
    }
    documents += try manualParagraphs()
    guard !documents.isEmpty else {
      throw CommandLineError(
        "no Chinese texts found: install fortunes-zh and manpages-zh (scripts/bootstrap)")
    }
    let block = Data((documents.joined(separator: "\n") + "\n").utf8)
    guard FileManager.default.createFile(atPath: path, contents: nil) else {
      throw CommandLineError("cannot create \(path)")
    }
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    defer { try? handle.close() }
    var written = 0
    while written < minimumBytes {
      try handle.write(contentsOf: block)
      written += block.count
    }
    return written
  }

  static func stripANSI(_ text: String) -> String {
    text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*[A-Za-z]", with: "", options: .regularExpression)
  }

  /// Paragraphs of the zh_CN man pages, decompressed by one `gzip -dc` over all of them.
  static func manualParagraphs() throws -> [String] {
    guard let enumerator = FileManager.default.enumerator(atPath: manuals) else { return [] }
    let files = enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".gz") }.sorted()
      .map { (manuals as NSString).appendingPathComponent($0) }
    guard !files.isEmpty else { return [] }
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["gzip", "-dc"] + files
    let pipe = Pipe()
    process.standardOutput = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    var paragraphs: [String] = []
    var current = ""
    func flush() {
      let text = current.trimmingCharacters(in: .whitespaces)
      if !text.isEmpty { paragraphs.append(text) }
      current = ""
    }
    for rawLine in String(decoding: data, as: UTF8.self).split(
      separator: "\n", omittingEmptySubsequences: false)
    {
      var line = Substring(rawLine)
      if line.hasPrefix(".") || line.hasPrefix("'") {
        let parts = line.split(separator: " ", maxSplits: 1)
        let macro = parts.first ?? ""
        if [".B", ".I", ".BR", ".IR", ".RB", ".RI", ".BI", ".IB", ".SM"].contains(macro),
          parts.count > 1
        {
          line = parts[1]
        } else {
          flush()
          continue
        }
      }
      let text = roffText(line)
      if text.trimmingCharacters(in: .whitespaces).isEmpty {
        flush()
      } else {
        current += current.isEmpty ? text : " " + text
      }
    }
    flush()
    return paragraphs
  }

  /// Removes roff escapes (fonts, sizes, special characters) and quotes from a text line.
  static func roffText(_ line: Substring) -> String {
    var text = String(line)
    text = text.replacingOccurrences(
      of: #"\\f(\[[^\]]*\]|\(..|.)"#, with: "", options: .regularExpression)
    text = text.replacingOccurrences(of: #"\\s[+-]?[0-9]"#, with: "", options: .regularExpression)
    text = text.replacingOccurrences(of: #"\\\(.."#, with: "", options: .regularExpression)
    text = text.replacingOccurrences(of: "\\-", with: "-").replacingOccurrences(of: "\\&", with: "")
      .replacingOccurrences(of: "\\e", with: "\\").replacingOccurrences(of: "\"", with: "")
      .replacingOccurrences(of: "\r", with: "")
    return text
  }
}
