import Foundation
import MiniTokenize
import TestSupport
import Testing

/// The path of a hand-written fixture in `Tests/MiniTokenizeTests/Fixtures`.
func fixturePath(_ name: String, file: String = #filePath) -> String {
  URL(fileURLWithPath: file).deletingLastPathComponent().appendingPathComponent("Fixtures")
    .appendingPathComponent(name).path
}

/// Writes `text` to `directory/name` and returns the path.
@discardableResult
func writeFile(_ text: String, named name: String, in directory: String) throws -> String {
  let path = (directory as NSString).appendingPathComponent(name)
  try Data(text.utf8).write(to: URL(fileURLWithPath: path))
  return path
}

/// Writes raw bytes to `directory/name` and returns the path.
@discardableResult
func writeBytes(_ bytes: [UInt8], named name: String, in directory: String) throws -> String {
  let path = (directory as NSString).appendingPathComponent(name)
  try Data(bytes).write(to: URL(fileURLWithPath: path))
  return path
}

/// Compresses `path` with the `zstd` command into `path.zst`; throws (failing the test) when the
/// command is missing. Pair with `.requires(.tool("zstd", package: "zstd"))`.
func zstdCompressed(_ path: String, extraArguments: [String] = []) throws -> String {
  try Requirement.tool("zstd", package: "zstd").check()
  let tool = try #require(executableOnPath("zstd"))
  let process = Process()
  process.executableURL = URL(fileURLWithPath: tool)
  process.arguments = ["-q", "-f"] + extraArguments + [path, "-o", path + ".zst"]
  try process.run()
  process.waitUntilExit()
  #expect(process.terminationStatus == 0)
  return path + ".zst"
}

/// A small deterministic generator (SplitMix64) for test data.
struct SplitMix64 {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func next(below bound: Int) -> Int { Int(next() % UInt64(bound)) }
}

/// A few KB of mixed Chinese and English lines to train tiny models on.
func trainingLines(count: Int = 400, seed: UInt64 = 7) -> [String] {
  let chinese = Array("床前明月光疑是地上霜举头望低思故乡春眠不觉晓处闻啼鸟夜来风雨声花落知多少白日依山尽黄河入海流欲穷千里目更上一层楼的了是在我有他这中大来上个国")
  let words = [
    "the", "model", "learns", "from", "data", "and", "tokens", "of", "text", "train", "small",
    "language", "chat", "hello", "world",
  ]
  var rng = SplitMix64(state: seed)
  return (0..<count).map { index in
    if index % 2 == 0 {
      let length = 8 + rng.next(below: 24)
      var line = String((0..<length).map { _ in chinese[rng.next(below: chinese.count)] })
      line += ["，", "。", "！", "？"][rng.next(below: 4)]
      line += String(rng.next(below: 1000))
      return line
    }
    return (0..<(4 + rng.next(below: 8))).map { _ in words[rng.next(below: words.count)] }
      .joined(separator: " ")
  }
}

/// Trains a tiny byte-fallback BPE model on `trainingLines()`.
func trainTinyModel(
  vocabularySize: Int = 420, modelType: SentencePieceTrainingOptions.ModelType = .bpe,
  specials: [String] = ["<|im_start|>", "<|im_end|>"], addDummyPrefix: Bool = false
) throws -> SentencePieceTokenizer {
  var options = SentencePieceTrainingOptions(vocabularySize: vocabularySize, modelType: modelType)
  options.userDefinedSymbols = specials
  options.addDummyPrefix = addDummyPrefix
  var lines = trainingLines()[...]
  return try SentencePieceTokenizer.train(options: options) { lines.popFirst() }
}
