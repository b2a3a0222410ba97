import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import TestSupport

/// A few KB of mixed Chinese and English lines to train a tiny tokenizer on.
package func chatTrainingLines(count: Int = 300) -> [String] {
  let chinese = Array("床前明月光疑是地上霜举头望低思故乡春眠不觉晓处闻啼鸟夜来风雨声花落知多少你好我是谁的了")
  let words = ["the", "model", "hello", "world", "chat", "small", "tokens", "user", "reply"]
  var state: UInt64 = 11
  func next(_ bound: Int) -> Int {
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Int((state >> 33) % UInt64(bound))
  }
  return (0..<count).map { index in
    if index % 2 == 0 {
      return String((0..<(6 + next(20))).map { _ in chinese[next(chinese.count)] }) + "。"
    }
    return (0..<(3 + next(6))).map { _ in words[next(words.count)] }.joined(separator: " ")
  }
}

/// A tiny byte-fallback BPE tokenizer with the ChatML tokens as user symbols: most characters
/// outside the training lines become byte pieces. Trained once, shared by every test.
package func tinyChatTokenizer() throws -> SentencePieceTokenizer {
  try TinyChatTokenizer.shared.get()
}

private enum TinyChatTokenizer {
  static let shared = Result<SentencePieceTokenizer, any Error> {
    var options = SentencePieceTrainingOptions(vocabularySize: 400)
    options.userDefinedSymbols = ["<|im_start|>", "<|im_end|>"]
    var lines = chatTrainingLines()[...]
    return try SentencePieceTokenizer.train(options: options) { lines.popFirst() }
  }
}

/// A model directory for chat tests: a random `Llama` over `tokenizer`'s vocabulary, saved
/// with the tokenizer and `template`.
/// - Parameters:
///   - edit: changes the weights before saving (to make the model say something chosen).
package func makeChatModelDirectory(
  tokenizer: SentencePieceTokenizer, template: ChatTemplate = .chatml, maxPositions: Int = 128,
  seed: UInt64 = 1, sampling: SamplingOptions = .seedDefaults,
  edit: ((inout [String: Tensor], LlamaConfig) -> Void)? = nil
) throws -> String {
  let config = LlamaConfig(
    vocabSize: tokenizer.vocabularySize, hiddenSize: 32, intermediateSize: 64, layerCount: 2,
    headCount: 4, kvHeadCount: 2, maxPositions: maxPositions,
    bosTokenId: tokenizer.specialIDs.bos, eosTokenIds: tokenizer.specialIDs.eos.map { [$0] } ?? [],
    initializerRange: 0.3)
  let path = try temporaryDirectory("chat")
  let model = Llama(config: config, seed: seed)
  if let edit {
    var weights = model.weights
    edit(&weights, config)
    try ModelDirectory(path: path).save(config: config, weights: weights)
  } else {
    try model.save(to: path)
  }
  try ModelDirectory(path: path).installTokenizer(
    tokenizer, template: template, sampling: sampling)
  return path
}

/// Weights that make the model's next token, at every position, one of `favourites` with the
/// given logits (all other logits near 0): every embedding carries a large constant in the
/// first hidden unit, which survives the layers and RMSNorm, and only the favourites' head rows
/// read it.
package func favouring(_ favourites: [Int: Float]) -> (inout [String: Tensor], LlamaConfig) -> Void
{
  { weights, config in
    let (vocab, hidden) = (config.vocabSize, config.hiddenSize)
    var embedding = weights["model.embed_tokens.weight"]!.scalars
    for row in 0..<vocab { embedding[row * hidden] = 1000 }
    weights["model.embed_tokens.weight"] = Tensor(embedding, shape: [vocab, hidden])
    // After RMSNorm the first unit is ≈ sqrt(hidden); each favourite's row turns it into its
    // logit.
    var head = [Float](repeating: 0, count: vocab * hidden)
    for (token, logit) in favourites {
      head[token * hidden] = logit / Float(hidden).squareRoot()
    }
    weights["lm_head.weight"] = Tensor(head, shape: [vocab, hidden])
  }
}

/// Runs `executable` with `arguments`, feeding `input` on standard input.
/// - Returns: exit status, standard output and standard error.
package func run(_ executable: String, _ arguments: [String], input: String) throws -> (
  status: Int32, output: String, error: String
) {
  let process = Process()
  process.executableURL = URL(fileURLWithPath: executable)
  process.arguments = arguments
  let stdin = Pipe()
  let stdout = Pipe()
  let stderr = Pipe()
  process.standardInput = stdin
  process.standardOutput = stdout
  process.standardError = stderr
  try process.run()
  stdin.fileHandleForWriting.write(Data(input.utf8))
  try stdin.fileHandleForWriting.close()
  // Read both pipes to the end before waiting, so a full pipe cannot block the child.
  let errorData = UncheckedBox(Data())
  let group = DispatchGroup()
  DispatchQueue.global().async(group: group) {
    errorData.value = stderr.fileHandleForReading.readDataToEndOfFile()
  }
  let outputData = stdout.fileHandleForReading.readDataToEndOfFile()
  group.wait()
  process.waitUntilExit()
  return (
    process.terminationStatus, String(decoding: outputData, as: UTF8.self),
    String(decoding: errorData.value, as: UTF8.self)
  )
}

/// A mutable box handed to one background reader and read after it finishes.
package final class UncheckedBox<Value>: @unchecked Sendable {
  package var value: Value
  package init(_ value: Value) { self.value = value }
}
