import Foundation
import MiniSupport

/// The `tokenizer_config.json` of a model or data folder, as Hugging Face `transformers` reads
/// it: `AutoTokenizer.from_pretrained(folder)` loads the folder's `tokenizer.json` when
/// ``TokenizerFiles`` wrote one (`tokenizer_class` `PreTrainedTokenizerFast`), else converts
/// `tokenizer.model` as a `LlamaTokenizer`; `apply_chat_template(messages, tokenize=False)`
/// renders the same text as `ChatRenderer.text(of:addGenerationPrompt:)`.
public struct TokenizerConfig: Sendable, Equatable, Codable {
  /// One entry of `added_tokens_decoder`: a piece `transformers` must keep whole.
  public struct AddedToken: Sendable, Equatable, Codable {
    /// The piece.
    public var content: String
    /// Skipped by `decode(skip_special_tokens=True)`.
    public var special = true
    /// `transformers` flags, all off: the token matches exactly.
    public var lstrip = false
    public var rstrip = false
    public var normalized = false
    public var singleWord = false

    enum CodingKeys: String, CodingKey {
      case content, special, lstrip, rstrip, normalized
      case singleWord = "single_word"
    }
  }

  /// `PreTrainedTokenizerFast` beside a `tokenizer.json` (read as it is), else
  /// `LlamaTokenizer` (converted from `tokenizer.model`).
  public var tokenizerClass = "LlamaTokenizer"
  /// The BOS piece.
  public var bosToken: String?
  /// The token that ends a reply: the template's end-of-turn token (ChatML's `<|im_end|>`),
  /// so `tokenizer.eos_token_id` is where a chat model's generation stops.
  public var eosToken: String?
  /// The unknown piece.
  public var unkToken: String?
  /// The padding piece, when the tokenizer has one.
  public var padToken: String?
  /// Whether encoding prepends BOS (never: the chat template and the pipeline decide).
  public var addBOSToken = false
  /// Whether encoding appends EOS (never).
  public var addEOSToken = false
  /// The longest sequence the data was made for.
  public var modelMaxLength: Int
  /// The Jinja chat template (none for a pretrained model).
  public var chatTemplate: String?
  /// Pieces kept whole (BOS, EOS, unknown, pad and the template's special tokens) by id.
  public var addedTokensDecoder: [String: AddedToken]
  /// Decoding keeps the text as is.
  public var cleanUpTokenizationSpaces = false
  /// Decoding puts no spaces between special tokens.
  public var spacesBetweenSpecialTokens = false
  /// sentencepiece's own handling of leading spaces (no legacy rewriting).
  public var legacy = false

  enum CodingKeys: String, CodingKey {
    case legacy
    case tokenizerClass = "tokenizer_class"
    case bosToken = "bos_token"
    case eosToken = "eos_token"
    case unkToken = "unk_token"
    case padToken = "pad_token"
    case addBOSToken = "add_bos_token"
    case addEOSToken = "add_eos_token"
    case modelMaxLength = "model_max_length"
    case chatTemplate = "chat_template"
    case addedTokensDecoder = "added_tokens_decoder"
    case cleanUpTokenizationSpaces = "clean_up_tokenization_spaces"
    case spacesBetweenSpecialTokens = "spaces_between_special_tokens"
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(tokenizerClass, forKey: .tokenizerClass)
    // Absent special tokens are written as null, as transformers writes them.
    try container.encode(bosToken, forKey: .bosToken)
    try container.encode(eosToken, forKey: .eosToken)
    try container.encode(unkToken, forKey: .unkToken)
    try container.encode(padToken, forKey: .padToken)
    try container.encode(addBOSToken, forKey: .addBOSToken)
    try container.encode(addEOSToken, forKey: .addEOSToken)
    try container.encode(modelMaxLength, forKey: .modelMaxLength)
    try container.encodeIfPresent(chatTemplate, forKey: .chatTemplate)
    try container.encode(addedTokensDecoder, forKey: .addedTokensDecoder)
    try container.encode(cleanUpTokenizationSpaces, forKey: .cleanUpTokenizationSpaces)
    try container.encode(spacesBetweenSpecialTokens, forKey: .spacesBetweenSpecialTokens)
    try container.encode(legacy, forKey: .legacy)
  }

  /// The configuration for `renderer`'s tokenizer and template.
  /// - Parameter modelMaxLength: the longest sequence, e.g. the data's `--max-length`.
  public init(renderer: ChatRenderer, modelMaxLength: Int) {
    let tokenizer = renderer.tokenizer
    let ids = tokenizer.specialIDs
    func piece(_ id: Int?) -> String? { id.flatMap { tokenizer.piece(for: $0) } }
    bosToken = piece(ids.bos)
    eosToken = piece(Int(renderer.endOfTurnID))
    unkToken = piece(ids.unknown)
    padToken = piece(ids.pad)
    self.modelMaxLength = modelMaxLength
    chatTemplate = renderer.template.jinja
    var added: [String: AddedToken] = [:]
    for id in [ids.unknown, ids.bos, ids.eos, ids.pad].compactMap({ $0 })
      + [Int(renderer.endOfTurnID)] + renderer.specialTokenIDs
    {
      if let content = tokenizer.piece(for: id) { added[String(id)] = AddedToken(content: content) }
    }
    addedTokensDecoder = added
  }

  /// The configuration of a tokenizer without a chat template (a pretrained model's): its BOS,
  /// EOS, unknown and pad pieces, and `addedTokenIDs` (default: those four) kept whole.
  /// - Parameter modelMaxLength: the longest sequence, e.g. the model's context.
  public init(tokenizer: some Tokenizer, modelMaxLength: Int, addedTokenIDs: [Int]? = nil) {
    let ids = tokenizer.specialIDs
    func piece(_ id: Int?) -> String? { id.flatMap { tokenizer.piece(for: $0) } }
    bosToken = piece(ids.bos)
    eosToken = piece(ids.eos)
    unkToken = piece(ids.unknown)
    padToken = piece(ids.pad)
    self.modelMaxLength = modelMaxLength
    chatTemplate = nil
    var added: [String: AddedToken] = [:]
    for id in addedTokenIDs ?? [ids.unknown, ids.bos, ids.eos, ids.pad].compactMap({ $0 }) {
      if let content = tokenizer.piece(for: id) { added[String(id)] = AddedToken(content: content) }
    }
    addedTokensDecoder = added
  }

  /// The configuration as pretty, key-sorted JSON.
  public func encoded() throws -> [UInt8] {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return Array(try encoder.encode(self)) + [0x0A]
  }

  /// Writes `tokenizer_config.json` into `directory` atomically.
  public func write(toDirectory directory: String) throws {
    try writeFileAtomically(
      try encoded(), to: (directory as NSString).appendingPathComponent("tokenizer_config.json"))
  }
}
