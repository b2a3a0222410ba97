import Foundation
import MiniSupport

/// The tokenizer files of a model directory, written together by one function so that every
/// directory MiniLLM writes reads the same in `transformers`: `tokenizer.model` (what MiniLLM
/// and llama.cpp's converter read), `tokenizer.json` mirroring it (what
/// `AutoTokenizer.from_pretrained` loads, see ``SentencePieceTokenizer/tokenizerJSON(addsBOS:addsEOS:)``)
/// and `tokenizer_config.json` (special tokens, BOS/EOS flags, the chat template when there is
/// one).
public struct TokenizerFiles: Sendable {
  /// The sentencepiece model.
  public let tokenizer: SentencePieceTokenizer
  /// `tokenizer_config.json`; its `tokenizer_class` follows whether `tokenizer.json` is written.
  public private(set) var config: TokenizerConfig
  /// `tokenizer.json`, or `nil` when the model cannot be mirrored (then `transformers` converts
  /// `tokenizer.model` itself, as a `LlamaTokenizer`).
  public let tokenizerJSON: [UInt8]?

  /// The files of `tokenizer`, with `renderer`'s template and end-of-turn token when given (a
  /// chat model), else the tokenizer's own EOS (a pretrained model).
  /// - Parameter modelMaxLength: the longest sequence, e.g. the model's context.
  public init(tokenizer: SentencePieceTokenizer, renderer: ChatRenderer?, modelMaxLength: Int) {
    self.init(
      tokenizer: tokenizer,
      config: renderer.map { TokenizerConfig(renderer: $0, modelMaxLength: modelMaxLength) }
        ?? TokenizerConfig(tokenizer: tokenizer, modelMaxLength: modelMaxLength))
  }

  /// The files of `tokenizer` with `config` as the base of `tokenizer_config.json`: its
  /// `add_bos_token`/`add_eos_token` also go into `tokenizer.json`'s post-processor, and its
  /// `added_tokens_decoder` gains every piece `tokenizer.json` lists as an added token.
  public init(tokenizer: SentencePieceTokenizer, config: TokenizerConfig) {
    self.tokenizer = tokenizer
    var config = config
    let json = tokenizer.tokenizerJSON(addsBOS: config.addBOSToken, addsEOS: config.addEOSToken)
    if json != nil {
      // tokenizer.json lists every unknown, control and user-defined piece: so does the config.
      for id in tokenizer.addedTokenIDs where config.addedTokensDecoder[String(id)] == nil {
        if let content = tokenizer.piece(for: id) {
          config.addedTokensDecoder[String(id)] = TokenizerConfig.AddedToken(content: content)
        }
      }
      config.tokenizerClass = "PreTrainedTokenizerFast"
    }
    self.config = config
    tokenizerJSON = json
  }

  /// Writes `tokenizer.model`, `tokenizer.json` (when there is one; a stale one is removed) and
  /// `tokenizer_config.json` into `directory`, each atomically.
  /// - Throws: write errors naming the file.
  public func write(toDirectory directory: String) throws {
    let folder = directory as NSString
    try tokenizer.write(to: folder.appendingPathComponent("tokenizer.model"))
    let jsonPath = folder.appendingPathComponent("tokenizer.json")
    if let tokenizerJSON {
      try writeFileAtomically(tokenizerJSON, to: jsonPath)
    } else if FileManager.default.fileExists(atPath: jsonPath) {
      try FileManager.default.removeItem(atPath: jsonPath)
    }
    try config.write(toDirectory: directory)
  }
}
