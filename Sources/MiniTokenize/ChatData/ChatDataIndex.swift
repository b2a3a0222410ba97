import Foundation

/// One JSONL shard of an SFT or preference folder.
public struct ChatShardEntry: Sendable, Equatable, Codable {
  /// File name inside the folder.
  public var file: String
  /// Samples (lines) in the shard.
  public var samples: Int
  /// Tokens in the shard (SFT: `input_ids`; preference: prompt + chosen + rejected).
  public var tokens: Int
}

/// Why a well-formed record produced no sample.
public enum SampleDropReason: String, Sendable, Codable, CaseIterable, Comparable,
  CodingKeyRepresentable
{
  /// Longer than `--max-length` under `--overflow drop`.
  case tooLong = "too_long"
  /// Even the system prompt and the final exchange (for a pair: the last user turn and the
  /// longer reply) exceed `--max-length`.
  case finalExchangeTooLong = "final_exchange_too_long"
  /// A message's role has no format in the template (e.g. a tool answer with human-robot).
  case unsupportedRole = "unsupported_role"
  /// A preference pair whose chosen and rejected replies are the same text.
  case identicalReplies = "identical_replies"
  /// A conversation whose last reply does not answer a user message, so it cannot become a
  /// prompt and a chosen reply.
  case promptDoesNotEndWithUser = "prompt_not_ending_with_user"

  public static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }
}

/// What one input file of `minillm data sft|dpo` gave.
public struct ChatDataSource: Sendable, Equatable, Codable {
  /// The path as given.
  public var path: String
  /// The format it was read as.
  public var format: CorpusFormat
  /// Records read (accepted + rejected).
  public var records: Int
  /// Malformed records skipped, per reason.
  public var rejected: [RejectReason: Int]
  /// The first few malformed records, with line and detail.
  public var firstRejections: [RejectedRecord]
  /// Samples written (truncated ones included).
  public var kept = 0
  /// Samples written after dropping their oldest exchanges to fit.
  public var truncated = 0
  /// Records that produced no sample, per reason.
  public var dropped: [SampleDropReason: Int] = [:]

  enum CodingKeys: String, CodingKey {
    case path, format, records, rejected, kept, truncated, dropped
    case firstRejections = "first_rejections"
  }

  init(statistics: SourceStatistics) {
    path = statistics.path
    format = statistics.format
    records = statistics.records
    rejected = statistics.rejected
    firstRejections = statistics.firstRejections
  }
}

/// `index.json` of an SFT folder made by `minillm data sft` (format `minillm-sft-shards`).
public struct SFTShardIndex: Sendable, Equatable, Codable {
  /// Always `minillm-sft-shards`.
  public var format = "minillm-sft-shards"
  /// Index layout version.
  public var version = 1
  /// The tokenizer copied beside the shards.
  public var tokenizer: TokenShardIndex.TokenizerReference
  /// The chat template the samples were rendered with, in full.
  public var template: ChatTemplate
  /// No sample is longer than this many tokens.
  public var maxLength: Int
  /// What was done with conversations longer than `maxLength`.
  public var overflow: SFTOverflowPolicy
  /// The system prompt given to records without one, if any.
  public var system: String?
  /// Self-cognition placeholder values (`name`, `author`, `date`).
  public var placeholders: [String: String]
  /// The shards, in order.
  public var shards: [ChatShardEntry]
  /// Samples written.
  public var kept: Int
  /// Samples written with their oldest exchanges dropped.
  public var truncated: Int
  /// Records that produced no sample, per reason.
  public var dropped: [SampleDropReason: Int]
  /// Malformed records skipped, per reason.
  public var rejected: [RejectReason: Int]
  /// Tokens over all samples.
  public var tokens: Int
  /// Supervised tokens (loss mask 1) over all samples.
  public var supervisedTokens: Int
  /// Each input file's counts.
  public var sources: [ChatDataSource]

  enum CodingKeys: String, CodingKey {
    case format, version, tokenizer, template, overflow, system, placeholders, shards, kept
    case truncated, dropped, rejected, tokens, sources
    case maxLength = "max_length"
    case supervisedTokens = "supervised_tokens"
  }

  /// Reads `index.json` from an SFT folder.
  /// - Throws: `ChatDataError.badIndex` naming the file.
  public static func read(directory: String) throws -> SFTShardIndex {
    try readIndex(directory: directory, format: "minillm-sft-shards") { (index: Self) in
      (index.format, index.version)
    }
  }
}

/// `index.json` of a preference folder made by `minillm data dpo`
/// (format `minillm-preference-shards`).
public struct PreferenceShardIndex: Sendable, Equatable, Codable {
  /// Always `minillm-preference-shards`.
  public var format = "minillm-preference-shards"
  /// Index layout version.
  public var version = 1
  /// The tokenizer copied beside the shards.
  public var tokenizer: TokenShardIndex.TokenizerReference
  /// The chat template the prompts were rendered with, in full.
  public var template: ChatTemplate
  /// Prompt plus the longer reply never exceed this many tokens.
  public var maxLength: Int
  /// The shards, in order.
  public var shards: [ChatShardEntry]
  /// Pairs written.
  public var kept: Int
  /// Pairs written with their prompt's oldest exchanges dropped.
  public var truncated: Int
  /// Records that produced no pair, per reason.
  public var dropped: [SampleDropReason: Int]
  /// Malformed records skipped, per reason.
  public var rejected: [RejectReason: Int]
  /// Prompt tokens over all pairs.
  public var promptTokens: Int
  /// Chosen-reply tokens over all pairs.
  public var chosenTokens: Int
  /// Rejected-reply tokens over all pairs.
  public var rejectedTokens: Int
  /// Pairs whose rejected reply came from a rejected-answer generator.
  public var generatedRejected: Int
  /// Each input file's counts.
  public var sources: [ChatDataSource]

  enum CodingKeys: String, CodingKey {
    case format, version, tokenizer, template, shards, kept, truncated, dropped, rejected, sources
    case maxLength = "max_length"
    case promptTokens = "prompt_tokens"
    case chosenTokens = "chosen_tokens"
    case rejectedTokens = "rejected_tokens"
    case generatedRejected = "generated_rejected"
  }

  /// Reads `index.json` from a preference folder.
  /// - Throws: `ChatDataError.badIndex` naming the file.
  public static func read(directory: String) throws -> PreferenceShardIndex {
    try readIndex(directory: directory, format: "minillm-preference-shards") { (index: Self) in
      (index.format, index.version)
    }
  }
}

/// Pretty, key-sorted JSON (byte-identical for equal values), ending with a newline.
func encodedIndex(_ value: some Encodable) throws -> [UInt8] {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  return Array(try encoder.encode(value)) + [0x0A]
}

private func readIndex<Index: Decodable>(
  directory: String, format: String, identity: (Index) -> (String, Int)
) throws -> Index {
  let path = (directory as NSString).appendingPathComponent("index.json")
  guard let data = FileManager.default.contents(atPath: path) else {
    throw ChatDataError.unreadable(path: path, message: "no index.json")
  }
  // Tell a folder of another kind by its format before decoding the rest.
  if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
    let found = object["format"] as? String, found != format
  {
    throw ChatDataError.badIndex(path: path, message: "format is \(found), expected \(format)")
  }
  let index: Index
  do {
    index = try JSONDecoder().decode(Index.self, from: data)
  } catch {
    throw ChatDataError.badIndex(path: path, message: "\(error)")
  }
  let (found, version) = identity(index)
  guard found == format, version == 1 else {
    throw ChatDataError.badIndex(
      path: path, message: "format \(found) version \(version) is not supported")
  }
  return index
}
