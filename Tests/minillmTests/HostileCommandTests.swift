import Foundation
import MiniLlama
import PipelineTestSupport
import TestSupport
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// Flags and files that used to crash `minillm` (a trap with no message naming the input) or
/// read poorly: each must now exit non-zero with one line naming the flag or file.
@Suite struct HostileCommandTests {
  /// Runs `minillm arguments` and expects a clean failure whose message contains `expected`.
  func expectFailure(
    _ arguments: [String], naming expected: String, test: String = #function,
    sourceLocation: SourceLocation = #_sourceLocation
  ) throws {
    guard let executable = minillmExecutable(for: test) else { return }
    let result = try runMinillm(executable, arguments)
    #expect(result.killedBySignal == nil, "\(result.standardError)", sourceLocation: sourceLocation)
    #expect(result.status != 0, sourceLocation: sourceLocation)
    #expect(
      result.standardError.contains(expected), "\(result.standardError)",
      sourceLocation: sourceLocation)
  }

  /// A model folder with a context of `maxPositions`.
  func model(maxPositions: Int) throws -> String {
    let directory = try temporaryDirectory()
    try Llama(config: tinyConfig(maxPositions: maxPositions), seed: 1).save(to: directory)
    return directory
  }

  @Test func forwardWithMoreIdsThanTheContextIsAnError() throws {
    let directory = try model(maxPositions: 4)
    let ids = (0..<5).map(String.init).joined(separator: ",")
    try expectFailure(["forward", "--model", directory, "--ids", ids, "--json"], naming: "--ids")
    try expectFailure(["generate", "--model", directory, "--ids", ids], naming: "context")
  }

  @Test func anAbsurdThreadCountIsAnError() throws {
    let directory = try model(maxPositions: 4)
    try expectFailure(
      ["forward", "--model", directory, "--ids", "1,2", "--threads", "2147483648"],
      naming: "--threads")
  }

  @Test func exportNeverReplacesAFileThatIsNotRegular() throws {
    let directory = try model(maxPositions: 4)
    let fifo = try temporaryDirectory() + "/out.gguf"
    #expect(mkfifo(fifo, 0o600) == 0)
    try expectFailure(
      ["export", "gguf", "--model", directory, "--out", fifo, "--overwrite"], naming: "--out")
    var status = stat()
    #expect(stat(fifo, &status) == 0 && (status.st_mode & S_IFMT) == S_IFIFO)
  }

  @Test func aNonFiniteLearningRateNamesTheFlag() throws {
    let run = try temporaryDirectory()
    try expectFailure(
      ["pretrain", "--data", run, "--out", run + "/run", "--lr", "nan"], naming: "--lr")
  }

  @Test func resumingIntoAFileNamesTheOutFlag() throws {
    let file = try temporaryDirectory() + "/not-a-folder"
    try Data("x".utf8).write(to: URL(fileURLWithPath: file))
    try expectFailure(["pretrain", "--resume", "--out", file], naming: "--out")
  }

  @Test func tokenizerTrainingIntoAFileNamesTheOutputFlag() throws {
    let directory = try temporaryDirectory()
    let input = directory + "/input.txt"
    try Data("hello world\n".utf8).write(to: URL(fileURLWithPath: input))
    let file = directory + "/output"
    try Data("x".utf8).write(to: URL(fileURLWithPath: file))
    try expectFailure(
      ["tokenizer", "train", "--input", input, "--vocab-size", "50", "--output", file],
      naming: "--output")
  }
}
