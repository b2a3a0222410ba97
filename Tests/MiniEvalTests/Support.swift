import Foundation
import MiniEval
import MiniLlama
import MiniTokenize

/// A tokenizer of one id per Unicode scalar of a fixed alphabet (ids 0 and 1 are BOS and EOS),
/// so that tests know exactly how texts split.
struct CharacterTokenizer: Tokenizer {
  let alphabet: [Unicode.Scalar]

  init(alphabet: String = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ .,:?#\n") {
    self.alphabet = Array(alphabet.unicodeScalars)
  }

  var vocabularySize: Int { alphabet.count + 2 }
  var specialIDs: SpecialTokenIDs { SpecialTokenIDs(bos: 0, eos: 1) }

  func encode(_ text: String, appendingTo ids: inout [Int32]) throws {
    for scalar in text.unicodeScalars {
      guard let index = alphabet.firstIndex(of: scalar) else {
        throw TokenizerError.loadFailed(path: "alphabet", message: "no \(scalar)")
      }
      ids.append(Int32(index + 2))
    }
  }

  func decode(_ ids: [Int]) throws -> String {
    var text = ""
    for id in ids where id >= 2 { text.unicodeScalars.append(alphabet[id - 2]) }
    return text
  }

  func piece(for id: Int) -> String? {
    switch id {
    case 0: "<s>"
    case 1: "</s>"
    case 2..<vocabularySize: String(alphabet[id - 2])
    default: nil
    }
  }

  func id(for piece: String) -> Int? {
    (0..<vocabularySize).first { self.piece(for: $0) == piece }
  }
}

/// A seeded 2-layer model over ``CharacterTokenizer``'s vocabulary.
func characterModel(maxPositions: Int = 48, seed: UInt64 = 5) throws -> EvalModel {
  let tokenizer = CharacterTokenizer()
  let config = LlamaConfig(
    vocabSize: tokenizer.vocabularySize, hiddenSize: 32, intermediateSize: 64, layerCount: 2,
    headCount: 4, kvHeadCount: 2, maxPositions: maxPositions, initializerRange: 0.2)
  return try EvalModel(model: Llama(config: config, seed: seed), tokenizer: tokenizer)
}

/// Writes `text` to `name` in `directory`; returns the path.
@discardableResult
func write(_ text: String, _ name: String, in directory: String) throws -> String {
  let path = directory + "/" + name
  try FileManager.default.createDirectory(
    atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
  try text.write(toFile: path, atomically: true, encoding: .utf8)
  return path
}
