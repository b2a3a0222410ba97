import Foundation
import MiniSupport

/// A tokenizer with the file that stores it, as a data folder records it (its name and SHA-256
/// in `index.json`) and a trained model directory carries it: a sentencepiece
/// `tokenizer.model`, or a byte-level BPE `tokenizer.json` (Qwen2, Llama 3, SmolLM) with the
/// settings of its `tokenizer_config.json`.
public struct StoredTokenizer: Sendable {
  /// The tokenizer.
  public let tokenizer: any Tokenizer
  /// `tokenizer.model` or `tokenizer.json`.
  public let fileName: String
  /// The file's bytes (for a vocabulary rebuilt from GGUF metadata, the file written for it).
  public let fileBytes: [UInt8]
  /// `add_bos_token` of a byte-level BPE tokenizer's `tokenizer_config.json` (false for
  /// sentencepiece, whose files MiniLLM writes without it).
  public let addsBOS: Bool
  /// The Jinja `chat_template` the tokenizer came with, if any.
  public let chatTemplate: String?

  /// A sentencepiece model, stored as `tokenizer.model`.
  public init(sentencePiece: SentencePieceTokenizer) {
    tokenizer = sentencePiece
    fileName = "tokenizer.model"
    fileBytes = sentencePiece.modelBytes
    addsBOS = false
    chatTemplate = nil
  }

  /// A byte-level BPE tokenizer read from (or written as) `tokenizerJSON`, with the settings
  /// of its `tokenizer_config.json`.
  public init(byteLevel pretrained: PretrainedTokenizer, tokenizerJSON: [UInt8]) {
    tokenizer = pretrained.tokenizer
    fileName = "tokenizer.json"
    fileBytes = tokenizerJSON
    addsBOS = pretrained.addsBOS
    chatTemplate = pretrained.chatTemplate
  }

  /// The sentencepiece model, or `nil` for a byte-level BPE tokenizer.
  public var sentencePiece: SentencePieceTokenizer? { tokenizer as? SentencePieceTokenizer }

  /// SHA-256 of ``fileBytes``, in lowercase hex.
  public var sha256: String { SHA256.hex(of: fileBytes) }

  /// Whether `other` gives every text the same ids (``Tokenizer/sharesVocabulary(with:)``).
  public func hasSameVocabulary(as other: StoredTokenizer) -> Bool {
    tokenizer.sharesVocabulary(with: other.tokenizer)
  }

  /// Reads `path`: a sentencepiece `.model` file, a byte-level BPE `tokenizer.json` (with the
  /// `tokenizer_config.json` beside it, when there is one), or a folder holding
  /// `tokenizer.model` (read first, as `AutoTokenizer` does) or `tokenizer.json`.
  /// - Throws: `TokenizerError.loadFailed` naming the file (and field) at fault; for a folder
  ///   with neither file, the error of its missing `tokenizer.model`.
  public static func read(_ path: String) throws -> StoredTokenizer {
    var isDirectory: ObjCBool = false
    let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
    if exists && isDirectory.boolValue {
      let folder = path as NSString
      let modelPath = folder.appendingPathComponent("tokenizer.model")
      let jsonPath = folder.appendingPathComponent("tokenizer.json")
      if !FileManager.default.fileExists(atPath: modelPath)
        && FileManager.default.fileExists(atPath: jsonPath)
      {
        let pretrained = try PretrainedTokenizer(directory: path)
        guard pretrained.tokenizer is ByteLevelBPETokenizer else {
          return StoredTokenizer(sentencePiece: try SentencePieceTokenizer(contentsOf: path))
        }
        return StoredTokenizer(byteLevel: pretrained, tokenizerJSON: try bytes(of: jsonPath))
      }
    } else if path.hasSuffix(".json") {
      let configPath = ((path as NSString).deletingLastPathComponent as NSString)
        .appendingPathComponent("tokenizer_config.json")
      let pretrained = try PretrainedTokenizer(
        tokenizerJSON: path,
        config: FileManager.default.fileExists(atPath: configPath) ? configPath : nil)
      return StoredTokenizer(byteLevel: pretrained, tokenizerJSON: try bytes(of: path))
    }
    return StoredTokenizer(sentencePiece: try SentencePieceTokenizer(contentsOf: path))
  }

  /// Reads the tokenizer a data folder recorded: `file` (`tokenizer.model`, or `tokenizer.json`
  /// with the folder's `tokenizer_config.json`) inside `folder`.
  /// - Throws: `TokenizerError.loadFailed` naming the file at fault.
  public static func read(folder: String, file: String) throws -> StoredTokenizer {
    let path = (folder as NSString).appendingPathComponent(file)
    guard file.hasSuffix(".json") else {
      return StoredTokenizer(sentencePiece: try SentencePieceTokenizer(contentsOf: path))
    }
    let configPath = (folder as NSString).appendingPathComponent("tokenizer_config.json")
    let pretrained = try PretrainedTokenizer(
      tokenizerJSON: path,
      config: FileManager.default.fileExists(atPath: configPath) ? configPath : nil)
    return StoredTokenizer(byteLevel: pretrained, tokenizerJSON: try bytes(of: path))
  }

  private static func bytes(of path: String) throws -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw TokenizerError.loadFailed(path: path, message: "cannot read the file")
    }
    return [UInt8](data)
  }

  /// `tokenizer_config.json` of a byte-level BPE tokenizer: `renderer`'s template and
  /// end-of-turn token for a chat model, else the tokenizer's own EOS, its `chat_template` and
  /// `add_bos_token`; every added token of `tokenizer.json` in `added_tokens_decoder`, and the
  /// `PreTrainedTokenizerFast` class that reads `tokenizer.json` as it is.
  func byteLevelConfig(_ bpe: ByteLevelBPETokenizer, renderer: ChatRenderer?, modelMaxLength: Int)
    -> TokenizerConfig
  {
    var config: TokenizerConfig
    if let renderer {
      config = TokenizerConfig(renderer: renderer, modelMaxLength: modelMaxLength)
    } else {
      config = TokenizerConfig(tokenizer: bpe, modelMaxLength: modelMaxLength)
      config.chatTemplate = chatTemplate
      config.addBOSToken = addsBOS
    }
    config.addByteLevelTokens(of: bpe)
    return config
  }

  /// Writes the tokenizer files of a model directory into `directory`, each atomically:
  /// sentencepiece's ``TokenizerFiles`` (`tokenizer.model`, its `tokenizer.json` mirror,
  /// `tokenizer_config.json`); for byte-level BPE `tokenizer.json` as stored and its
  /// `tokenizer_config.json`, removing a stale `tokenizer.model` (which `AutoTokenizer` and
  /// MiniLLM would read first).
  /// - Parameters:
  ///   - renderer: the chat template and end-of-turn token of a chat model.
  ///   - modelMaxLength: the longest sequence, e.g. the model's context.
  /// - Throws: write errors naming the file.
  public func write(toDirectory directory: String, renderer: ChatRenderer?, modelMaxLength: Int)
    throws
  {
    if let sentencePiece {
      try TokenizerFiles(
        tokenizer: sentencePiece, renderer: renderer, modelMaxLength: modelMaxLength
      ).write(toDirectory: directory)
      return
    }
    let folder = directory as NSString
    try writeFileAtomically(fileBytes, to: folder.appendingPathComponent("tokenizer.json"))
    let stale = folder.appendingPathComponent("tokenizer.model")
    if FileManager.default.fileExists(atPath: stale) {
      try FileManager.default.removeItem(atPath: stale)
    }
    if let bpe = tokenizer as? ByteLevelBPETokenizer {
      try byteLevelConfig(bpe, renderer: renderer, modelMaxLength: modelMaxLength)
        .write(toDirectory: directory)
    } else if let renderer {
      try TokenizerConfig(renderer: renderer, modelMaxLength: modelMaxLength)
        .write(toDirectory: directory)
    }
  }
}

extension TokenizerConfig {
  /// Lists every added token of a byte-level BPE `tokenizer.json` in `added_tokens_decoder`
  /// (special or not, as the file marks them) and names `PreTrainedTokenizerFast`, which reads
  /// `tokenizer.json` as it is.
  public mutating func addByteLevelTokens(of tokenizer: ByteLevelBPETokenizer) {
    for token in tokenizer.addedTokens {
      var entry = addedTokensDecoder[String(token.id)] ?? AddedToken(content: token.content)
      entry.special = token.special
      addedTokensDecoder[String(token.id)] = entry
    }
    tokenizerClass = "PreTrainedTokenizerFast"
  }
}

extension SentencePieceTokenizer {
  /// Whether `other` encodes every text as this model does: the same file, or (a model rebuilt
  /// from another file's vocabulary, such as a GGUF file's `tokenizer.ggml.*`) the same pieces
  /// and scores under the same model type, byte fallback and whitespace handling, with no
  /// normalisation table. Stricter than ``hasSameVocabulary(as:)``, which compares pieces only.
  public func encodesAs(_ other: SentencePieceTokenizer) -> Bool {
    if sha256 == other.sha256 { return true }
    guard let mine = SentencePieceModelProto(bytes: modelBytes),
      let theirs = SentencePieceModelProto(bytes: other.modelBytes),
      mine.pieces.count == theirs.pieces.count, mine.modelType == theirs.modelType,
      mine.byteFallback == theirs.byteFallback,
      mine.treatWhitespaceAsSuffix == theirs.treatWhitespaceAsSuffix,
      mine.charsmapIsEmpty && theirs.charsmapIsEmpty,
      mine.addDummyPrefix == theirs.addDummyPrefix,
      mine.removeExtraWhitespaces == theirs.removeExtraWhitespaces,
      mine.escapeWhitespaces == theirs.escapeWhitespaces
    else { return false }
    return zip(mine.pieces, theirs.pieces).allSatisfy { $0.text == $1.text && $0.score == $1.score }
  }
}
