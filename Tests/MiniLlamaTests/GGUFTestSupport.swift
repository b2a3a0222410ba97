import Foundation
import MiniLlama
import MiniTensor
import MiniTokenize
import TestSupport
import Testing

/// Model directories for the GGUF tests: a fixture's architecture with seeded random weights,
/// a sentencepiece model trained on a few KB of text, and a `tokenizer_config.json`.
enum GGUFTestModel {
  /// The special pieces of the test tokenizer (user-defined symbols).
  static let specials = ["<|im_start|>", "<|im_end|>"]
  /// A ChatML template in the form `tokenizer_config.json` carries it.
  static let chatTemplate =
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + "
    + "message['content'] + '<|im_end|>\\n' }}{% endfor %}"

  /// A byte-fallback BPE tokenizer of 400 pieces, trained once per test run.
  static let tokenizer = Result { try trainTokenizer() }

  private static func trainTokenizer() throws -> SentencePieceTokenizer {
    var options = SentencePieceTrainingOptions(vocabularySize: 400, modelType: .bpe)
    options.userDefinedSymbols = specials
    options.threads = 1
    var lines = trainingLines()[...]
    return try SentencePieceTokenizer.train(options: options) { lines.popFirst() }
  }

  /// Deterministic mixed Chinese and English lines.
  static func trainingLines() -> [String] {
    let chinese = Array("床前明月光疑是地上霜举头望低思故乡春眠不觉晓处闻啼鸟夜来风雨声花落知多少的了是在我有他这中大")
    let words = [
      "the", "model", "learns", "from", "data", "and", "tokens", "of", "text", "train", "small",
      "language", "chat", "hello", "world", "llama", "export",
    ]
    var state: UInt64 = 12345
    func next(_ bound: Int) -> Int {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Int((state >> 33) % UInt64(bound))
    }
    return (0..<600).map { index in
      if index % 2 == 0 {
        return String((0..<(6 + next(20))).map { _ in chinese[next(chinese.count)] }) + "。"
      }
      return (0..<(3 + next(8))).map { _ in words[next(words.count)] }.joined(separator: " ")
    }
  }

  /// A model directory with the architecture of the fixture `fixture`, the test tokenizer, and
  /// `vocab_size` = the tokenizer's pieces + `extraVocabulary`.
  /// - Parameters:
  ///   - initializerRange: standard deviation of the random weights (larger gives peakier
  ///     logits, so greedy choices are far from ties).
  ///   - tokenizerConfig: the `tokenizer_config.json` text; `nil` writes none.
  static func directory(
    fixture: String, extraVocabulary: Int = 0, initializerRange: Float = 0.02, seed: UInt64 = 1,
    tokenizerConfig: String? = defaultTokenizerConfig
  ) throws -> (path: String, config: LlamaConfig, tokenizer: SentencePieceTokenizer) {
    let tokenizer = try tokenizer.get()
    var config = try ModelDirectory(path: fixturePath(fixture)).loadConfig()
    config.vocabSize = tokenizer.vocabularySize + extraVocabulary
    config.initializerRange = initializerRange
    let path = try temporaryDirectory("gguf-model")
    try Llama(config: config, seed: seed).save(to: path)
    try tokenizer.write(to: path + "/tokenizer.model")
    if let tokenizerConfig {
      try Data(tokenizerConfig.utf8).write(
        to: URL(fileURLWithPath: path + "/tokenizer_config.json"))
    }
    return (path, config, tokenizer)
  }

  /// A `tokenizer_config.json` with the ChatML template, BOS on and EOS off.
  static var defaultTokenizerConfig: String {
    """
    {"add_bos_token": true, "add_eos_token": false, "chat_template": \(jsonString(chatTemplate)),
     "added_tokens_decoder": {}}
    """
  }
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
  var result = "\""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": result += "\\\""
    case "\\": result += "\\\\"
    case "\n": result += "\\n"
    case _ where scalar.value < 0x20: result += String(format: "\\u%04x", scalar.value)
    default: result.unicodeScalars.append(scalar)
    }
  }
  return result + "\""
}

/// Reverses llama.cpp's q/k row permutation on rows of `rowLength` elements: row
/// `h·d + j·d/2 + i` of the result is row `h·d + 2i + j` of `values` (written independently of
/// the exporter's permutation). Works on values and on quantized row bytes alike, since
/// quantization blocks never cross rows.
func unpermuteGGUFRows<T>(_ values: [T], rowLength: Int, heads: Int) -> [T] {
  let rowCount = values.count / rowLength
  let headDim = rowCount / heads
  var result = values
  for h in 0..<heads {
    for i in 0..<headDim / 2 {
      for j in 0..<2 {
        let interleaved = h * headDim + 2 * i + j
        let halves = h * headDim + j * (headDim / 2) + i
        result[halves * rowLength..<(halves + 1) * rowLength] =
          values[interleaved * rowLength..<(interleaved + 1) * rowLength]
      }
    }
  }
  return result
}

/// ggml's `quantize_row_q8_0_ref`, written out for the tests: per block of 32,
/// `d = amax / 127`, `id = d ? 1/d : 0`, `q = roundf(x·id)`, `d` stored as `Float16`.
func referenceQ8_0(_ values: [Float]) -> [UInt8] {
  precondition(values.count % 32 == 0)
  var bytes: [UInt8] = []
  for start in stride(from: 0, to: values.count, by: 32) {
    let block = values[start..<start + 32]
    var amax: Float = 0
    for v in block { amax = max(amax, fabsf(v)) }
    let d = amax / Float((1 << 7) - 1)
    let id: Float = d != 0 ? 1.0 / d : 0
    let bits = Float16(d).bitPattern
    bytes += [UInt8(bits & 0xFF), UInt8(bits >> 8)]
    for v in block { bytes.append(UInt8(bitPattern: Int8(roundf(v * id)))) }
  }
  return bytes
}
