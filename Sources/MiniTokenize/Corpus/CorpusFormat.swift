import MiniSupport

/// The record layouts MiniLLM reads (Docs/Pipeline.md lists them). JSON layouts may come as JSON
/// lines or as one JSON array (told apart by the file's first byte), and any file may be
/// zstd-compressed.
public enum CorpusFormat: String, Sendable, CaseIterable, Codable {
  // Pretraining documents.
  /// Plain text, one document per line (blank lines skipped).
  case text = "txt"
  /// JSON records `{"text"}` (C4, SkyPile, …), one per line.
  case jsonl
  /// JSON records `{"text"}` in a JSON array.
  case json
  /// wikipedia-cn: `{"completion"}` records.
  case wikipediaCN = "wiki-cn"
  /// BaiduBaiKe: `{"title", "summary", "sections": [{"title", "content"}]}`.
  case baike
  /// WuDao: `{"title", "content"}`.
  case wudao

  // SFT conversations.
  /// Alpaca / Belle / deepctrl: `instruction`, `input`, `output`, optional `system`, `history`.
  case alpaca
  /// ShareGPT: `conversations: [{from, value}]`, optional `system`.
  case sharegpt
  /// minimind / OpenAI style: `conversations` or `messages` as `[{role, content}]`.
  case minimind
  /// firefly: `input`, `target`.
  case firefly
  /// MOSS: moss-003 `chat.turn_N.{Human, MOSS}` or moss-002 `plain_text`.
  case moss
  /// shareAI: `conversation: [{human, assistant}]`.
  case shareai

  // Preference pairs.
  /// `prompt`, `chosen`, `rejected` strings (or `answer: [chosen, rejected]`), optional `system`.
  case dpo
  /// ShareGPT preference: `conversations` plus `chosen` / `rejected` messages.
  case sharegptPreference = "sharegpt-dpo"
  /// hh_rlhf_cn: `context: [{role, text}]`, `chosen.text`, `rejected.text`.
  case hhRLHF = "hh-rlhf-cn"
  /// CValues-Comparison: `prompt`, `pos_resp`, `neg_resp`.
  case cvalues
  /// Tab-separated `prompt chosen rejected` (zhihu_rlhf_3k), with an optional header line.
  case tsv

  /// The kind of record the format yields.
  public var kind: RecordKind {
    switch self {
    case .text, .jsonl, .json, .wikipediaCN, .baike, .wudao: .document
    case .alpaca, .sharegpt, .minimind, .firefly, .moss, .shareai: .conversation
    case .dpo, .sharegptPreference, .hhRLHF, .cvalues, .tsv: .preference
    }
  }

  /// Whether records are JSON values (as opposed to text or TSV lines).
  public var isJSON: Bool { self != .text && self != .tsv }

  /// The top-level members a record decoder reads (the rest are validated, not built).
  var neededKeys: Set<String> {
    switch self {
    case .text, .tsv: []
    case .jsonl, .json: ["text"]
    case .wikipediaCN: ["completion"]
    case .baike: ["title", "summary", "sections"]
    case .wudao: ["title", "content"]
    case .alpaca: ["instruction", "input", "output", "system", "history"]
    case .sharegpt: ["conversations", "system"]
    case .minimind: ["conversations", "messages", "system"]
    case .firefly: ["input", "target", "system"]
    case .moss: ["chat", "plain_text", "meta_instruction"]
    case .shareai: ["conversation", "system"]
    case .dpo: ["prompt", "chosen", "rejected", "answer", "system"]
    case .sharegptPreference: ["conversations", "chosen", "rejected", "system"]
    case .hhRLHF: ["context", "chosen", "rejected"]
    case .cvalues: ["prompt", "pos_resp", "neg_resp"]
    }
  }

  /// The format whose layout a record's top-level members match, or `nil`.
  static func matching(_ record: [String: JSONValue]) -> CorpusFormat? {
    func has(_ keys: String...) -> Bool { keys.allSatisfy { record[$0] != nil } }
    if has("conversations", "chosen", "rejected") { return .sharegptPreference }
    if has("context", "chosen", "rejected") { return .hhRLHF }
    if has("prompt", "pos_resp", "neg_resp") { return .cvalues }
    if has("prompt", "chosen", "rejected") || has("prompt", "answer") { return .dpo }
    if has("conversations") || has("messages") {
      let list = record["conversations"]?.array ?? record["messages"]?.array ?? []
      if let first = list.first?.object {
        if first["from"] != nil { return .sharegpt }
        if first["role"] != nil { return .minimind }
      }
      return nil
    }
    if has("conversation") { return .shareai }
    if has("chat") || has("plain_text") { return .moss }
    if has("instruction", "output") { return .alpaca }
    if has("input", "target") { return .firefly }
    if has("sections") || has("title", "summary") { return .baike }
    if has("title", "content") { return .wudao }
    if has("completion") { return .wikipediaCN }
    if has("text") { return .jsonl }
    return nil
  }
}
